package fakeapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The wire types below mirror the Bot API's JSON objects field for field
// (https://core.telegram.org/bots/api#available-types), with the same
// optional fields left out when empty, so that what the fake answers has the
// shape of what api.telegram.org answers.

// User is a Telegram user or bot.
type User struct {
	ID                      int64  `json:"id"`
	IsBot                   bool   `json:"is_bot"`
	FirstName               string `json:"first_name"`
	LastName                string `json:"last_name,omitempty"`
	Username                string `json:"username,omitempty"`
	LanguageCode            string `json:"language_code,omitempty"`
	CanJoinGroups           *bool  `json:"can_join_groups,omitempty"`
	CanReadAllGroupMessages *bool  `json:"can_read_all_group_messages,omitempty"`
	SupportsInlineQueries   *bool  `json:"supports_inline_queries,omitempty"`
}

// Chat is a conversation; the fake only has private chats, whose id equals
// the user's id, as on Telegram.
type Chat struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Title     string `json:"title,omitempty"`
	Type      string `json:"type"`
}

// PhotoSize is one size of a photo.
type PhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int    `json:"file_size,omitempty"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
}

// Document is a general file.
type Document struct {
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int    `json:"file_size,omitempty"`
}

// Sticker is a sticker.
type Sticker struct {
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	Emoji        string `json:"emoji,omitempty"`
	SetName      string `json:"set_name,omitempty"`
	IsAnimated   bool   `json:"is_animated"`
	IsVideo      bool   `json:"is_video"`
	Type         string `json:"type"`
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int    `json:"file_size,omitempty"`
}

// Voice is a voice note.
type Voice struct {
	Duration     int    `json:"duration"`
	MimeType     string `json:"mime_type,omitempty"`
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int    `json:"file_size,omitempty"`
}

// Contact is a shared phone contact.
type Contact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name,omitempty"`
	UserID      int64  `json:"user_id,omitempty"`
	VCard       string `json:"vcard,omitempty"`
}

// Location is a point on the map.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Entity is a special part of a text (bot_command, url, ...).
type Entity struct {
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	Type   string `json:"type"`
}

// Message is a message, from a user or from the bot.
type Message struct {
	MessageID    int             `json:"message_id"`
	From         *User           `json:"from,omitempty"`
	Chat         Chat            `json:"chat"`
	Date         int64           `json:"date"`
	EditDate     int64           `json:"edit_date,omitempty"`
	MediaGroupID string          `json:"media_group_id,omitempty"`
	Text         string          `json:"text,omitempty"`
	Entities     []Entity        `json:"entities,omitempty"`
	Photo        []PhotoSize     `json:"photo,omitempty"`
	Document     *Document       `json:"document,omitempty"`
	Sticker      *Sticker        `json:"sticker,omitempty"`
	Voice        *Voice          `json:"voice,omitempty"`
	Caption      string          `json:"caption,omitempty"`
	Contact      *Contact        `json:"contact,omitempty"`
	Location     *Location       `json:"location,omitempty"`
	ReplyMarkup  json.RawMessage `json:"reply_markup,omitempty"`
}

// CallbackQuery is a press of an inline button.
type CallbackQuery struct {
	ID           string   `json:"id"`
	From         User     `json:"from"`
	Message      *Message `json:"message,omitempty"`
	ChatInstance string   `json:"chat_instance"`
	Data         string   `json:"data,omitempty"`
}

// Update is one incoming update.
type Update struct {
	UpdateID      int64          `json:"update_id"`
	Message       *Message       `json:"message,omitempty"`
	EditedMessage *Message       `json:"edited_message,omitempty"`
	CallbackQuery *CallbackQuery `json:"callback_query,omitempty"`
}

// File is the answer to getFile.
type File struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int    `json:"file_size,omitempty"`
	FilePath     string `json:"file_path,omitempty"`
}

// Command is one entry of a bot's command menu.
type Command struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// WebhookInfo is the answer to getWebhookInfo.
type WebhookInfo struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	LastErrorDate        int64    `json:"last_error_date,omitempty"`
	LastErrorMessage     string   `json:"last_error_message,omitempty"`
	MaxConnections       int      `json:"max_connections,omitempty"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
}

// Button is one button of a keyboard the bot sent.
type Button struct {
	Text            string `json:"text"`
	Data            string `json:"callback_data,omitempty"`    // inline keyboards
	RequestContact  bool   `json:"request_contact,omitempty"`  // reply keyboards
	RequestLocation bool   `json:"request_location,omitempty"` // reply keyboards
}

// Sent is one message the bot sent, as the fake recorded it. For Message it
// is the message's current state (after edits).
type Sent struct {
	At        time.Time  `json:"at"`
	Method    string     `json:"method"` // sendMessage, sendPhoto, sendDocument
	ChatID    int64      `json:"chat_id"`
	MessageID int        `json:"message_id"`
	Text      string     `json:"text,omitempty"`     // the text, or the caption of a photo or document
	Buttons   [][]Button `json:"buttons,omitempty"`  // the inline keyboard
	Keyboard  [][]Button `json:"keyboard,omitempty"` // the reply keyboard
	OneTime   bool       `json:"one_time,omitempty"` // the reply keyboard is one_time_keyboard
	File      string     `json:"file,omitempty"`     // uploaded file name (photos, documents)
	FileSize  int        `json:"file_size,omitempty"`
	Edits     int        `json:"edits,omitempty"` // how many times it was edited
}

// String flattens s for transcripts: "42: Approve? [Yes] [No]".
func (s Sent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: ", s.ChatID)
	if s.File != "" {
		fmt.Fprintf(&b, "<%s %s> ", strings.TrimPrefix(s.Method, "send"), s.File)
	}
	b.WriteString(s.Text)
	for _, row := range s.Buttons {
		for _, btn := range row {
			fmt.Fprintf(&b, " [%s]", btn.Text)
		}
	}
	for _, row := range s.Keyboard {
		for _, btn := range row {
			fmt.Fprintf(&b, " {%s}", btn.Text)
		}
	}
	return b.String()
}

// Call is one request the fake received.
type Call struct {
	At       time.Time
	Method   string
	Params   map[string]string // form fields; an uploaded file appears as "@name"
	Status   int               // HTTP status answered (0: no answer)
	Returned []int64           // for getUpdates: the update_ids answered
}

// Failure is an injected failure for FailNext.
type Failure struct {
	Code        int           // HTTP status and error_code; 0 with Delay or Drop
	Description string        // Telegram's description
	RetryAfter  int           // parameters.retry_after, in seconds
	Delay       time.Duration // answer only after this long (or when the client gives up)
	Drop        bool          // close the connection without answering
}

// Failures the Bot API really produces.
var (
	// Blocked is the answer when the user blocked the bot.
	Blocked = Failure{Code: 403, Description: "Forbidden: bot was blocked by the user"}
	// Deactivated is the answer when the user deleted their account.
	Deactivated = Failure{Code: 403, Description: "Forbidden: user is deactivated"}
	// ChatNotFound is the answer for a chat the bot cannot reach.
	ChatNotFound = Failure{Code: 400, Description: "Bad Request: chat not found"}
	// ServerError is a 500 with a JSON body.
	ServerError = Failure{Code: 500, Description: "Internal Server Error"}
	// BadGateway is a 502 as Telegram's front end sends it (an HTML body).
	BadGateway = Failure{Code: 502, Description: "Bad Gateway"}
	// Dropped closes the connection without an answer.
	Dropped = Failure{Drop: true}
)

// TooManyRequests is a 429 with retry_after.
func TooManyRequests(retryAfter int) Failure {
	return Failure{Code: 429, Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter), RetryAfter: retryAfter}
}

// Slow answers normally, but only after d (or when the client gives up).
func Slow(d time.Duration) Failure { return Failure{Delay: d} }
