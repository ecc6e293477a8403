package whatsapp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// LIDs looks up the phone number behind a LID (an anonymous "…@lid" sender
// id). The device store's LID map (sqlstore.Container.LIDMap) implements it;
// whatsmeow fills it with every LID↔phone pair it sees.
type LIDs interface {
	GetPNForLID(ctx context.Context, lid types.JID) (types.JID, error)
}

// ErrUnknownLID says a sender came as a LID whose phone number is not known
// (yet). The message is not acknowledged, so WhatsApp delivers it again.
var ErrUnknownLID = errors.New("whatsapp: sender's LID has no known phone number")

// PhoneOf is the one place where a message's sender becomes a phone number:
// a phone-number sender is used as is (without its device part); a LID
// sender is mapped through SenderAlt, else the device store's LID map. The
// result is "919812345678@s.whatsapp.net", whose User part is the contact's
// address in Sewa ("wa:919812345678").
func PhoneOf(ctx context.Context, lids LIDs, src types.MessageSource) (types.JID, error) {
	s := src.Sender.ToNonAD()
	switch s.Server {
	case types.DefaultUserServer:
		return s, nil
	case types.HiddenUserServer:
		if alt := src.SenderAlt.ToNonAD(); alt.Server == types.DefaultUserServer && alt.User != "" {
			return alt, nil
		}
		if lids == nil {
			return types.JID{}, fmt.Errorf("%w: %s (no LID map)", ErrUnknownLID, s)
		}
		pn, err := lids.GetPNForLID(ctx, s)
		if err != nil {
			return types.JID{}, fmt.Errorf("%w: %s: %w", ErrUnknownLID, s, err)
		}
		if pn.IsEmpty() || pn.User == "" {
			return types.JID{}, fmt.Errorf("%w: %s", ErrUnknownLID, s)
		}
		return pn.ToNonAD(), nil
	}
	return types.JID{}, fmt.Errorf("whatsapp: sender %s is neither a phone number nor a LID", s)
}

// JIDOf turns a contact address ("919812345678") into the JID to send to. A
// bare number is never parsed with types.ParseJID, which would read it as a
// server name.
func JIDOf(address string) (types.JID, error) {
	a := strings.TrimPrefix(strings.TrimSpace(address), "+")
	if len(a) < 7 || len(a) > 15 || strings.Trim(a, "0123456789") != "" || a[0] == '0' {
		return types.JID{}, fmt.Errorf("whatsapp: %q is not a phone number with country code (e.g. 919812345678)", address)
	}
	return types.NewJID(a, types.DefaultUserServer), nil
}

// MessageID is the WhatsApp message id of part n of outbox row outboxID.
// whatsmeow's own ids (Client.GenerateMessageID) are "3EB0" followed by 18
// upper-case hex digits, 9 bytes of a SHA-256; these have the same shape
// and length, so WhatsApp takes them for ids of a WhatsApp Web client. The
// hash covers a salt kept with Sewa's database, so that a database started
// afresh (whose outbox ids begin at 1 again) never reuses the id of an
// earlier message to the same person, which WhatsApp could take for a
// duplicate. The same row and part always give the same id, so a retry after
// a crash sends the message again under the id it had, and is recognisable.
// outboxID 0 (a message without an outbox row) gets a random id.
func MessageID(salt []byte, outboxID int64, part int) types.MessageID {
	if outboxID == 0 {
		b := make([]byte, 9)
		rand.Read(b)
		return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(b))
	}
	h := sha256.New()
	h.Write([]byte("sewa/wa/outbox\x00"))
	h.Write(salt)
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(outboxID))
	binary.BigEndian.PutUint32(b[8:], uint32(part))
	h.Write(b[:])
	return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(h.Sum(nil)[:9]))
}
