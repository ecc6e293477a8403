package telegram

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot"
)

// Limits of the Bot API that shape rendering.
const (
	MaxText        = 4096 // runes in one text message
	MaxCaption     = 1024 // runes in a photo's or document's caption
	MaxChoices     = 8    // buttons Sewa offers at once (Caps.MaxChoices)
	MaxCallbackLen = 64   // bytes of callback_data

	// ShareNumberLabel is the label of the reply-keyboard button that shares
	// the person's phone number.
	ShareNumberLabel = "📱 Share my number"
	// ShareLocationLabel is the default label of the share-location button.
	ShareLocationLabel = "📍 Share my location"

	shortLabel = 15 // runes; choices this short go two to a row
)

// Render turns one outbox message into the Bot API calls that deliver it, in
// order: a photo and/or a document (Text as the caption when it fits), then
// the text split on line boundaries into parts of at most MaxText runes. The
// keyboard (inline buttons for Choices, or a one-time reply keyboard with a
// share-my-number button for AskPhone) rides on the last call. Render does
// no I/O: files are opened only when the call is sent.
func Render(chatID int64, m bot.Outgoing) ([]tgbotapi.Chattable, error) {
	markup, err := renderMarkup(m)
	if err != nil {
		return nil, err
	}
	type media struct {
		path  string
		photo bool
	}
	var files []media
	if m.Image != "" {
		files = append(files, media{m.Image, true})
	}
	if m.Document != "" {
		files = append(files, media{m.Document, false})
	}
	text := strings.TrimSpace(m.Text)
	caption := ""
	if len(files) > 0 && utf8.RuneCountInString(text) <= MaxCaption {
		caption, text = text, ""
	}
	var calls []tgbotapi.Chattable
	for i, f := range files {
		base := tgbotapi.BaseFile{BaseChat: tgbotapi.BaseChat{ChatID: chatID}, File: localFile(f.path)}
		c := ""
		if i == 0 {
			c = caption
		}
		if f.photo {
			calls = append(calls, tgbotapi.PhotoConfig{BaseFile: base, Caption: c})
		} else {
			calls = append(calls, tgbotapi.DocumentConfig{BaseFile: base, Caption: c})
		}
	}
	for _, part := range SplitText(text, MaxText) {
		calls = append(calls, tgbotapi.MessageConfig{BaseChat: tgbotapi.BaseChat{ChatID: chatID}, Text: part})
	}
	if len(calls) == 0 {
		return nil, errors.New("telegram: nothing to send (no text, image or document)")
	}
	if markup != nil {
		last := len(calls) - 1
		switch c := calls[last].(type) {
		case tgbotapi.MessageConfig:
			c.ReplyMarkup = markup
			calls[last] = c
		case tgbotapi.PhotoConfig:
			c.ReplyMarkup = markup
			calls[last] = c
		case tgbotapi.DocumentConfig:
			c.ReplyMarkup = markup
			calls[last] = c
		}
	}
	return calls, nil
}

// renderMarkup is the keyboard for m, or nil.
func renderMarkup(m bot.Outgoing) (any, error) {
	for _, c := range m.Choices {
		if c.Data == "" || len(c.Data) > MaxCallbackLen {
			return nil, fmt.Errorf("telegram: choice %q: data must be 1 to %d bytes, not %d", c.Label, MaxCallbackLen, len(c.Data))
		}
	}
	switch {
	case m.AskPhone:
		return ShareNumberKeyboard(m.PhoneLabel, m.Choices), nil
	case m.AskLocation:
		return ShareLocationKeyboard(m.LocationLabel, m.Choices), nil
	case len(m.Choices) > 0:
		kb := InlineKeyboard(m.Choices)
		return kb, nil
	}
	return nil, nil
}

// InlineKeyboard lays choices out as inline buttons: one per row, or two per
// row when every label is short. callback_data is the Choice's Data.
func InlineKeyboard(choices []bot.Choice) tgbotapi.InlineKeyboardMarkup {
	perRow := 1
	if len(choices) > 1 {
		perRow = 2
		for _, c := range choices {
			if utf8.RuneCountInString(label(c)) > shortLabel {
				perRow = 1
				break
			}
		}
	}
	rows := [][]tgbotapi.InlineKeyboardButton{}
	for i := 0; i < len(choices); i += perRow {
		var row []tgbotapi.InlineKeyboardButton
		for _, c := range choices[i:min(i+perRow, len(choices))] {
			row = append(row, tgbotapi.NewInlineKeyboardButtonData(label(c), c.Data))
		}
		rows = append(rows, row)
	}
	return tgbotapi.InlineKeyboardMarkup{InlineKeyboard: rows}
}

// ShareNumberKeyboard is a one-time reply keyboard whose first button shares
// the person's phone number (request_contact) under label (ShareNumberLabel
// when empty); the choices, if any, follow as plain buttons that send their
// label as text.
func ShareNumberKeyboard(share string, choices []bot.Choice) tgbotapi.ReplyKeyboardMarkup {
	if share == "" {
		share = ShareNumberLabel
	}
	return replyKeyboard(tgbotapi.NewKeyboardButtonContact(share), choices)
}

// ShareLocationKeyboard is ShareNumberKeyboard for a place: its first
// button shares the person's location (request_location).
func ShareLocationKeyboard(share string, choices []bot.Choice) tgbotapi.ReplyKeyboardMarkup {
	if share == "" {
		share = ShareLocationLabel
	}
	return replyKeyboard(tgbotapi.NewKeyboardButtonLocation(share), choices)
}

// replyKeyboard puts first above the choices, which send their label as
// text when pressed.
func replyKeyboard(first tgbotapi.KeyboardButton, choices []bot.Choice) tgbotapi.ReplyKeyboardMarkup {
	rows := [][]tgbotapi.KeyboardButton{{first}}
	for _, c := range choices {
		rows = append(rows, []tgbotapi.KeyboardButton{tgbotapi.NewKeyboardButton(label(c))})
	}
	return tgbotapi.ReplyKeyboardMarkup{Keyboard: rows, ResizeKeyboard: true, OneTimeKeyboard: true}
}

func label(c bot.Choice) string {
	if strings.TrimSpace(c.Label) == "" {
		return c.Data
	}
	return c.Label
}

// SplitText cuts text into parts of at most limit runes, on line boundaries
// where it can, else on spaces, else anywhere.
func SplitText(text string, limit int) []string {
	if text == "" {
		return nil
	}
	if utf8.RuneCountInString(text) <= limit {
		return []string{text}
	}
	var parts []string
	var cur strings.Builder
	n := 0 // runes in cur
	flush := func() {
		if s := strings.TrimRight(cur.String(), "\n"); strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
		cur.Reset()
		n = 0
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		ln := utf8.RuneCountInString(line)
		if n+ln <= limit {
			cur.WriteString(line)
			n += ln
			continue
		}
		flush()
		for ln > limit { // one line longer than a message
			cut := cutAt(line, limit)
			parts = append(parts, strings.TrimRight(line[:cut], " "))
			line = strings.TrimLeft(line[cut:], " ")
			ln = utf8.RuneCountInString(line)
		}
		cur.WriteString(line)
		n = ln
	}
	flush()
	return parts
}

// cutAt is the byte index at which to cut s so that s[:i] has at most limit
// runes, preferring the last space.
func cutAt(s string, limit int) int {
	i, runes := 0, 0
	for i < len(s) && runes < limit {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		runes++
	}
	if sp := strings.LastIndexByte(s[:i], ' '); sp > 0 {
		return sp + 1
	}
	return i
}

// localFile uploads a file from disk under its base name (tgbotapi.FilePath
// would send the whole local path as the file name).
type localFile string

func (f localFile) NeedsUpload() bool { return true }

func (f localFile) UploadData() (string, io.Reader, error) {
	h, err := os.Open(string(f))
	if err != nil {
		return "", nil, err
	}
	return filepath.Base(string(f)), h, nil
}

func (f localFile) SendData() string { panic("telegram: a local file must be uploaded") }
