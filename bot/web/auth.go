package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"sewa/store"
)

// Access. A coordinator sends /board in chat and gets a personal link
// /board/signin?t=TOKEN, valid for LinkTTL. Opening it sets a session cookie
// that lasts as long as the link would have; /board revoke ends every link
// and session of that coordinator.
//
// A token is "KIND.CONTACT.EXPIRES.NONCE.MAC": KIND is "l" for a link and
// "s" for a session cookie, CONTACT the coordinator's contact id, EXPIRES
// unix seconds, NONCE random (so no two sessions share a token, nor their
// forms a CSRF token) and MAC the HMAC-SHA256, under the board's key, of the
// rest and of the coordinator's link generation. The key (secret "board_key") is made once
// and kept in the database; the generation (secret "board_links:ID") is
// replaced by RevokeLinks, which makes every earlier token of that person
// fail. Nothing else is stored per link or per session.

// LinkTTL is how long a sign-in link, and the session it opens, lasts.
const LinkTTL = 12 * time.Hour

// SignInPath is the path of a sign-in link; the token follows.
const SignInPath = "/board/signin?t="

const (
	keySecret   = "board_key"
	linkPrefix  = "l"
	sessionKind = "s"
	cookieName  = "sewa_board"
)

func generationSecret(contactID int64) string {
	return "board_links:" + strconv.FormatInt(contactID, 10)
}

// IssueLink makes a sign-in token for a coordinator, valid from now for
// LinkTTL, inside the caller's transaction.
func IssueLink(tx *store.Tx, contactID int64, now time.Time) (token string, expires time.Time, err error) {
	key, err := tx.Secret(keySecret)
	if err != nil {
		return "", time.Time{}, err
	}
	gen, err := tx.Secret(generationSecret(contactID))
	if err != nil {
		return "", time.Time{}, err
	}
	expires = now.Add(LinkTTL).Truncate(time.Second)
	return sign(key, gen, linkPrefix, contactID, expires), expires, nil
}

// RevokeLinks ends every link and session of a coordinator issued so far.
func RevokeLinks(tx *store.Tx, contactID int64) error {
	_, err := tx.RotateSecret(generationSecret(contactID))
	return err
}

func sign(key, gen []byte, kind string, contactID int64, expires time.Time) string {
	nonce := make([]byte, 9)
	rand.Read(nonce) // never fails (crypto/rand since Go 1.24)
	body := kind + "." + strconv.FormatInt(contactID, 10) + "." + strconv.FormatInt(expires.Unix(), 10) + "." +
		base64.RawURLEncoding.EncodeToString(nonce)
	return body + "." + mac(key, gen, body)
}

func mac(key, gen []byte, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	m.Write([]byte{0})
	m.Write(gen)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// token is a parsed, not yet verified, token.
type token struct {
	kind    string
	contact int64
	expires time.Time
	body    string
	mac     string
}

var errBadToken = errors.New("not a valid sign-in token")

func parseToken(s string) (token, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 5 || len(s) > 200 {
		return token{}, errBadToken
	}
	id, err1 := strconv.ParseInt(parts[1], 10, 64)
	exp, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return token{}, errBadToken
	}
	return token{kind: parts[0], contact: id, expires: time.Unix(exp, 0), body: strings.Join(parts[:4], "."), mac: parts[4]}, nil
}

// Why a token was refused; logged, never shown (the page says only that
// the link is not valid).
var (
	errExpired        = errors.New("expired")
	errRevoked        = errors.New("forged or revoked")
	errNotCoordinator = errors.New("no longer a coordinator")
)

// verify checks a token of kind against the store and returns its
// coordinator.
func (s *Server) verify(tx *store.Tx, raw, kind string, now time.Time) (*store.Contact, token, error) {
	t, err := parseToken(raw)
	if err != nil {
		return nil, t, err
	}
	if t.kind != kind {
		return nil, t, fmt.Errorf("%w: a %q token where a %q one belongs", errBadToken, t.kind, kind)
	}
	key, err := tx.Secret(keySecret)
	if err != nil {
		return nil, t, err
	}
	c, err := tx.ContactByID(t.contact)
	if errors.Is(err, store.ErrNotFound) {
		return nil, t, errRevoked
	}
	if err != nil {
		return nil, t, err
	}
	gen, err := tx.Secret(generationSecret(c.ID))
	if err != nil {
		return nil, t, err
	}
	if !hmac.Equal([]byte(mac(key, gen, t.body)), []byte(t.mac)) {
		return nil, t, errRevoked
	}
	if !now.Before(t.expires) {
		return nil, t, errExpired
	}
	if !s.backend.IsCoordinator(c) {
		return nil, t, errNotCoordinator
	}
	return c, t, nil
}

// csrfToken ties the move form to the session it was shown in.
func (s *Server) csrfToken(key []byte, session string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
