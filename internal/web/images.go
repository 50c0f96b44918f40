package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"pochta/internal/store"
)

// The senders whose remote images an account always shows ("always show
// images from this sender"), kept in the store's ServerState under the
// account's id and address (so a later account that reuses the id does
// not inherit them), shared by every node and browser.

const maxImageSenders = 1000

func imageSendersKey(acct store.Account) string {
	return "webmail/remote-images/" + strconv.FormatInt(acct.ID, 10) + "/" + strings.ToLower(acct.Address)
}

// imageSenders returns the account's list (nil when none).
func (s *Server) imageSenders(r *http.Request, acct store.Account) ([]string, error) {
	data, err := s.opts.Store.GetState(r.Context(), imageSendersKey(acct))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, nil // an unreadable list is an empty one
	}
	return list, nil
}

// serveImageSender adds a sender to the list, or removes it.
func (s *Server) serveImageSender(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Sender string
		Allow  bool
	}
	sender := ""
	if readJSON(r, &req) {
		sender = strings.ToLower(strings.TrimSpace(req.Sender))
	}
	if sender == "" || len(sender) > 320 || !strings.Contains(sender, "@") {
		writeError(w, http.StatusBadRequest, "bad sender")
		return
	}
	list, err := s.imageSenders(r, sess.acct)
	if err == nil {
		list = slices.DeleteFunc(list, func(x string) bool { return x == sender })
		if req.Allow {
			list = append(list, sender)
			if len(list) > maxImageSenders {
				list = list[len(list)-maxImageSenders:] // the oldest go first
			}
		}
		data, _ := json.Marshal(list)
		err = s.opts.Store.PutState(r.Context(), imageSendersKey(sess.acct), data)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	s.writeSession(w, r, sess.acct, sess.CSRF)
}
