package bot

import (
	"context"
	"errors"
	"time"
)

// Channel is one chat platform. An adapter converts the platform's wire format
// into Messages, hands them to an Inbox and renders Outgoing messages back. It
// decides nothing: what a message means is the runtime's business.
type Channel interface {
	Name() string // "tg", "wa", "console"
	Caps() Caps
	// Receive blocks until ctx ends, handing every inbound message to in;
	// it returns nil then, and an error only when the channel cannot go on
	// (a refused token).
	Receive(ctx context.Context, in Inbox) error
	// Send delivers m and returns the platform's id for it. Errors are
	// *ErrRateLimited, ErrBlocked, ErrTransient (wrapped) or anything else,
	// which the outbox treats as a permanent failure of this one message.
	Send(ctx context.Context, m Outgoing) (externalID string, err error)
}

// Caps says what a channel can show, so the runtime never has to ask which
// channel it is talking to.
type Caps struct {
	Buttons    bool // inline buttons; otherwise choices are numbered text
	MaxChoices int  // most buttons or numbered lines that fit one message
	MaxText    int  // longest text of one message, in runes
	Photos     bool // can receive and send images
	// AddressIsPhone says a sender's address is their phone number
	// (WhatsApp), so nobody is asked for it again.
	AddressIsPhone bool
	// Rate and ChatRate are the platform's send limits in messages per second,
	// overall and per chat; the outbox sender paces itself by them (0 = none).
	Rate, ChatRate float64
}

// Inbox takes inbound messages. Accept returns nil only once msgs, everything
// they caused and the cursor (when not nil) are committed in one transaction;
// a replay of an already-committed message is accepted again and changes
// nothing. Only then does an adapter advance its platform offset or
// acknowledge the message.
type Inbox interface {
	Accept(ctx context.Context, msgs []Message, cursor *Cursor) error
}

// Cursor is a channel's position in its platform's stream (the Telegram
// getUpdates offset), stored with the messages it covers.
type Cursor struct {
	Name  string
	Value int64
}

// Message is one thing a person sent, in platform-neutral form.
type Message struct {
	Channel    string    // the Channel's Name()
	ExternalID string    // unique per channel: Telegram update_id, WhatsApp message id
	User       string    // the sender's address in the channel: chat id, phone number, console name
	Name       string    // the sender's display name, when the platform gives one
	Text       string    // typed text or a photo's caption
	Choice     string    // the Data of a pressed Choice (a button press)
	Photos     []string  // paths of downloaded images, under the data directory
	Location   *Location // a shared location
	Phone      string    // a shared contact's phone number
	Other      string    // content Sewa cannot use ("sticker", "voice", "document"), for a kind explanation
	At         time.Time // the platform's timestamp
}

// Location is a point a person shared.
type Location struct {
	Lat, Lon float64
}

// Outgoing is one message to one person, as stored in the outbox.
type Outgoing struct {
	ID       int64    `json:"-"` // outbox row id: stable across retries and restarts
	Channel  string   `json:"-"`
	To       string   `json:"-"`
	Text     string   `json:"text"`
	Choices  []Choice `json:"choices,omitempty"`
	AskPhone bool     `json:"ask_phone,omitempty"` // offer a "share my number" button where the channel has one
	// PhoneLabel is that button's label in the reader's language.
	PhoneLabel string `json:"phone_label,omitempty"`
	// AskLocation offers a "share my location" button where the channel has
	// one, labelled LocationLabel.
	AskLocation   bool   `json:"ask_location,omitempty"`
	LocationLabel string `json:"location_label,omitempty"`
	Image         string `json:"image,omitempty"`    // path of an image to send, Text as its caption
	Document      string `json:"document,omitempty"` // path of a file to send (receipts), Text as its caption
}

// Choice is one answer a person can pick. Data comes back in Message.Choice
// when pressed; on channels without buttons the choices are numbered and the
// person answers by number or by label.
type Choice struct {
	Data  string `json:"data"`
	Label string `json:"label"`
}

// ErrRateLimited says the platform refused the send for now; the next attempt
// must wait at least RetryAfter.
type ErrRateLimited struct{ RetryAfter time.Duration }

func (e *ErrRateLimited) Error() string { return "rate limited; retry after " + e.RetryAfter.String() }

var (
	// ErrBlocked is permanent for this contact: they blocked the bot or are gone.
	ErrBlocked = errors.New("recipient blocked the bot or is gone")
	// ErrTransient is a timeout, a 5xx or a lost connection: retry with backoff.
	ErrTransient = errors.New("channel unreachable")
)
