package srs

import (
	"context"
	"errors"
	"fmt"

	"pochta/internal/store"
)

// StateName is where the secrets live in the store's server state (the
// same format as the secrets file: one per line, the first signs), shared
// by every node of the store.
const StateName = "srs/secret"

// LoadStateSecrets reads the secrets from st; when there are none yet it
// stores a new random one. Of several nodes starting at once, the first
// to store its secret wins and all use that one.
func LoadStateSecrets(ctx context.Context, st store.ServerState) ([][]byte, error) {
	b, err := st.GetState(ctx, StateName)
	if errors.Is(err, store.ErrNotFound) {
		b = newSecret()
		if err = st.AddState(ctx, StateName, b); errors.Is(err, store.ErrExists) {
			b, err = st.GetState(ctx, StateName)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("srs secret: %w", err)
	}
	return parseSecrets(b, "the store's "+StateName)
}
