package dkim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"pochta/internal/store"
)

// StatePrefix is where keys live in the store's server state: one value
// "dkim/<domain>/<selector>.<algo>.key" (PKCS #8 PEM) per key, shared by
// every node of the store.
const StatePrefix = "dkim/"

// KeygenState creates a key for domain and selector in st (never
// replacing an existing one: store.ErrExists) and returns the DNS record
// to publish, as a zone-file line.
func KeygenState(ctx context.Context, st store.ServerState, domain, selector, algo string) (string, error) {
	k, data, file, err := newKey(domain, selector, algo)
	if err != nil {
		return "", err
	}
	if err := st.AddState(ctx, StatePrefix+k.Domain+"/"+file, data); err != nil {
		return "", fmt.Errorf("dkim: key %s of %s: %w", k.Selector, k.Domain, err)
	}
	return k.Record(), nil
}

// LoadStateSigner loads every key kept in st.
func LoadStateSigner(ctx context.Context, st store.ServerState) (*Signer, error) {
	s := &Signer{keys: map[string][]Key{}}
	list, err := st.ListState(ctx, StatePrefix)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	for _, name := range list {
		domain, file, ok := strings.Cut(strings.TrimPrefix(name, StatePrefix), "/")
		sel, algo, ok2 := strings.Cut(strings.TrimSuffix(file, ".key"), ".")
		if !ok || !ok2 || !strings.HasSuffix(file, ".key") {
			continue
		}
		data, err := st.GetState(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		k, err := parseKey(name, data, domain, sel, algo)
		if err != nil {
			return nil, err
		}
		s.keys[k.Domain] = append(s.keys[k.Domain], k)
	}
	s.sort()
	return s, nil
}

// ImportDir copies the keys of a key folder (dir/<domain>/<selector>.
// <algo>.key, as Keygen writes) into st, keeping any key st already has
// under the same name, so that an install that kept its keys in data_dir
// goes on signing with the same selectors. It returns how many it copied;
// a missing dir is no error.
func ImportDir(ctx context.Context, st store.ServerState, dir string) (int, error) {
	n := 0
	err := walkDir(dir, func(path, domain, file string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("dkim: %w", err)
		}
		sel, algo, _ := strings.Cut(strings.TrimSuffix(file, ".key"), ".")
		if _, err := parseKey(path, data, domain, sel, algo); err != nil {
			return err
		}
		err = st.AddState(ctx, StatePrefix+domain+"/"+file, data)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrExists):
			return fmt.Errorf("dkim: importing %s: %w", path, err)
		}
		return nil
	})
	return n, err
}
