package telegram

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot"
)

// maxDownload is the most the adapter downloads for one photo (the Bot API
// serves files up to 20 MB).
const maxDownload = 25 << 20

// followUp is what to do once the inbox accepted a button press: answer the
// callback query (which stops the button's spinner) and edit the pressed
// message to show the answer and lose its buttons.
type followUp struct {
	callbackID string
	chatID     int64
	messageID  int    // 0: nothing to edit (an inline message, or a group)
	text       string // the pressed message's text, or its caption
	caption    bool   // the message is a photo or document with a caption
	label      string // the pressed button's label; "" when not found
}

// convert turns a batch of updates into messages, in update order. The
// photos of one album become one message, placed where its first photo was,
// with that update's id. Updates Sewa cannot use give no message. The error
// is a photo that could not be fetched for now (the batch must be fetched
// again); with degrade, such a photo is given up and the message carries
// Other "photo" instead.
func (a *Adapter) convert(ctx context.Context, ups []tgbotapi.Update, degrade bool) ([]bot.Message, []followUp, error) {
	var msgs []bot.Message
	var after []followUp
	albums := map[string]int{}
	for _, u := range ups {
		m, f, err := a.convertOne(ctx, u, degrade)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			after = append(after, *f)
		}
		if m == nil {
			continue
		}
		if g := albumOf(u); g != "" {
			if i, seen := albums[g]; seen {
				first := &msgs[i]
				first.Photos = append(first.Photos, m.Photos...)
				if first.Text == "" {
					first.Text = m.Text
				}
				if first.Other == "" && len(first.Photos) == 0 {
					first.Other = m.Other
				}
				if len(first.Photos) > 0 {
					first.Other = ""
				}
				continue
			}
			albums[g] = len(msgs)
		}
		msgs = append(msgs, *m)
	}
	return msgs, after, nil
}

func (a *Adapter) convertOne(ctx context.Context, u tgbotapi.Update, degrade bool) (*bot.Message, *followUp, error) {
	id := strconv.Itoa(u.UpdateID)
	switch {
	case u.Message != nil:
		m, err := a.fromMessage(ctx, id, u.Message, degrade)
		return m, nil, err
	case u.CallbackQuery != nil:
		m, f := a.fromCallback(id, u.CallbackQuery)
		return m, f, nil
	}
	a.log.Debug("telegram: ignoring an update Sewa does not use", "update_id", u.UpdateID, "kind", updateKind(u))
	return nil, nil, nil
}

// updateKind names what an update holds, for logs.
func updateKind(u tgbotapi.Update) string {
	switch {
	case u.Message != nil:
		return "message"
	case u.EditedMessage != nil:
		return "edited_message"
	case u.ChannelPost != nil:
		return "channel_post"
	case u.EditedChannelPost != nil:
		return "edited_channel_post"
	case u.CallbackQuery != nil:
		return "callback_query"
	case u.InlineQuery != nil:
		return "inline_query"
	case u.ChosenInlineResult != nil:
		return "chosen_inline_result"
	case u.MyChatMember != nil:
		return "my_chat_member"
	case u.ChatMember != nil:
		return "chat_member"
	case u.ChatJoinRequest != nil:
		return "chat_join_request"
	case u.Poll != nil:
		return "poll"
	case u.PollAnswer != nil:
		return "poll_answer"
	case u.ShippingQuery != nil, u.PreCheckoutQuery != nil:
		return "payment"
	}
	return "unknown"
}

// kindOf names the content of a message, in one place: "text", "photo",
// "image" (a picture sent as a file), "contact", "location", or the name of
// a kind Sewa cannot use ("sticker", "voice", ...), which becomes
// Message.Other. "" is a service message (nothing a person said).
func kindOf(m *tgbotapi.Message) string {
	switch {
	case m.Text != "":
		return "text"
	case len(m.Photo) > 0:
		return "photo"
	case m.Contact != nil:
		return "contact"
	case m.Venue != nil || m.Location != nil:
		return "location"
	case m.Sticker != nil:
		return "sticker"
	case m.Voice != nil:
		return "voice"
	case m.VideoNote != nil:
		return "video_note"
	case m.Video != nil:
		return "video"
	case m.Animation != nil: // before Document: Telegram sets both for a GIF
		return "animation"
	case m.Audio != nil:
		return "audio"
	case m.Document != nil:
		if imageExt(m.Document.MimeType) != "" {
			return "image"
		}
		return "document"
	case m.Poll != nil:
		return "poll"
	case m.Dice != nil:
		return "dice"
	case m.Game != nil:
		return "game"
	case m.Invoice != nil || m.SuccessfulPayment != nil:
		return "payment"
	case m.PinnedMessage != nil, m.MessageAutoDeleteTimerChanged != nil, len(m.NewChatMembers) > 0,
		m.LeftChatMember != nil, m.NewChatTitle != "", len(m.NewChatPhoto) > 0, m.DeleteChatPhoto,
		m.GroupChatCreated, m.SuperGroupChatCreated, m.ChannelChatCreated, m.MigrateToChatID != 0,
		m.MigrateFromChatID != 0, m.ConnectedWebsite != "", m.ProximityAlertTriggered != nil,
		m.VoiceChatScheduled != nil, m.VoiceChatStarted != nil, m.VoiceChatEnded != nil,
		m.VoiceChatParticipantsInvited != nil:
		return ""
	}
	return "unsupported" // content newer than this library (a story, a checklist, ...)
}

func imageExt(mimeType string) string {
	switch strings.ToLower(mimeType) {
	case "image/jpeg", "image/jpg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	}
	return ""
}

func (a *Adapter) fromMessage(ctx context.Context, id string, m *tgbotapi.Message, degrade bool) (*bot.Message, error) {
	if m.Chat == nil || m.Chat.Type != "private" {
		chatType := ""
		if m.Chat != nil {
			chatType = m.Chat.Type
		}
		a.log.Debug("telegram: ignoring a message outside a private chat", "update_id", id, "chat_type", chatType)
		return nil, nil
	}
	out := &bot.Message{
		Channel:    ChannelName,
		ExternalID: id,
		User:       strconv.FormatInt(m.Chat.ID, 10),
		Name:       displayName(m.From, m.Chat),
		At:         time.Unix(int64(m.Date), 0).UTC(),
	}
	kind := kindOf(m)
	switch kind {
	case "":
		a.log.Debug("telegram: ignoring a service message", "update_id", id)
		return nil, nil
	case "text":
		out.Text = a.stripMention(m.Text)
	case "photo", "image":
		fileID, uniqueID, ext := "", "", ".jpg"
		if kind == "photo" {
			p := largest(m.Photo)
			fileID, uniqueID = p.FileID, p.FileUniqueID
		} else {
			fileID, uniqueID, ext = m.Document.FileID, m.Document.FileUniqueID, imageExt(m.Document.MimeType)
		}
		path, err := a.savePhoto(ctx, fileID, uniqueID, ext)
		switch {
		case err == nil:
			out.Photos = []string{path}
		case !degrade && retryable(ctx, err):
			return nil, err
		default:
			a.log.Warn("telegram: giving up on a photo; passing the message on without it", "update_id", id, "err", err)
			out.Other = "photo"
		}
	case "contact":
		out.Phone = strings.TrimSpace(m.Contact.PhoneNumber)
	case "location":
		loc := m.Location
		if loc == nil {
			loc = &m.Venue.Location
		}
		out.Location = &bot.Location{Lat: loc.Latitude, Lon: loc.Longitude}
	default:
		out.Other = kind
	}
	if out.Text == "" {
		out.Text = m.Caption
	}
	return out, nil
}

// retryable says whether a failure may go away by itself.
func retryable(ctx context.Context, err error) bool {
	var rl *bot.ErrRateLimited
	return ctx.Err() != nil || errors.Is(err, bot.ErrTransient) || errors.As(err, &rl)
}

func largest(sizes []tgbotapi.PhotoSize) tgbotapi.PhotoSize {
	best := sizes[0]
	for _, p := range sizes[1:] {
		if p.Width*p.Height > best.Width*best.Height || p.Width*p.Height == best.Width*best.Height && p.FileSize > best.FileSize {
			best = p
		}
	}
	return best
}

func displayName(u *tgbotapi.User, c *tgbotapi.Chat) string {
	first, last := "", ""
	switch {
	case u != nil:
		first, last = u.FirstName, u.LastName
	case c != nil:
		first, last = c.FirstName, c.LastName
	}
	return strings.TrimSpace(first + " " + last)
}

// stripMention turns "/start@sewa_bot R-12" into "/start R-12" when the
// mention names this bot.
func (a *Adapter) stripMention(text string) string {
	if !strings.HasPrefix(text, "/") || a.self.UserName == "" {
		return text
	}
	end := strings.IndexAny(text, " \n")
	if end < 0 {
		end = len(text)
	}
	cmd, at, found := strings.Cut(text[:end], "@")
	if !found || !strings.EqualFold(at, a.self.UserName) {
		return text
	}
	return cmd + text[end:]
}

func (a *Adapter) fromCallback(id string, q *tgbotapi.CallbackQuery) (*bot.Message, *followUp) {
	f := &followUp{callbackID: q.ID}
	var chatID int64
	switch {
	case q.Message != nil && q.Message.Chat != nil:
		if q.Message.Chat.Type != "private" {
			a.log.Debug("telegram: ignoring a button outside a private chat", "update_id", id)
			return nil, f
		}
		chatID = q.Message.Chat.ID
		f.chatID, f.messageID = chatID, q.Message.MessageID
		f.text = q.Message.Text
		if f.text == "" && (q.Message.Caption != "" || len(q.Message.Photo) > 0 || q.Message.Document != nil) {
			f.text, f.caption = q.Message.Caption, true
		}
		f.label = buttonLabel(q.Message.ReplyMarkup, q.Data)
	case q.From != nil:
		chatID = q.From.ID
	default:
		return nil, f
	}
	if q.Data == "" {
		return nil, f
	}
	return &bot.Message{
		Channel:    ChannelName,
		ExternalID: id,
		User:       strconv.FormatInt(chatID, 10),
		Name:       displayName(q.From, nil),
		Choice:     q.Data,
		At:         a.now().UTC(),
	}, f
}

func buttonLabel(kb *tgbotapi.InlineKeyboardMarkup, data string) string {
	if kb == nil {
		return ""
	}
	for _, row := range kb.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData != nil && *b.CallbackData == data {
				return b.Text
			}
		}
	}
	return ""
}

// followUp answers the callback queries of an accepted batch and marks the
// pressed messages with the answer. Failures are logged: the presses are
// committed, and an unanswered query only leaves a spinner for a while.
func (a *Adapter) followUp(ctx context.Context, after []followUp) {
	for _, f := range after {
		if f.callbackID != "" {
			if err := a.request(ctx, tgbotapi.CallbackConfig{CallbackQueryID: f.callbackID}); err != nil && ctx.Err() == nil {
				a.log.Debug("telegram: answerCallbackQuery failed", "err", err)
			}
		}
		if f.messageID == 0 {
			continue
		}
		none := &tgbotapi.InlineKeyboardMarkup{InlineKeyboard: [][]tgbotapi.InlineKeyboardButton{}}
		base := tgbotapi.BaseEdit{ChatID: f.chatID, MessageID: f.messageID, ReplyMarkup: none}
		var c tgbotapi.Chattable
		switch {
		case f.label == "":
			c = tgbotapi.EditMessageReplyMarkupConfig{BaseEdit: base}
		case f.caption:
			c = tgbotapi.EditMessageCaptionConfig{BaseEdit: base, Caption: withAnswer(f.text, f.label, MaxCaption)}
		default:
			c = tgbotapi.EditMessageTextConfig{BaseEdit: base, Text: withAnswer(f.text, f.label, MaxText)}
		}
		if err := a.request(ctx, c); err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "message is not modified") {
			a.log.Warn("telegram: could not mark the pressed button", "chat", f.chatID, "message_id", f.messageID, "err", err)
		}
	}
}

// withAnswer is the pressed message's text with the chosen answer below it:
// "Approve R-12?\n✓ Yes".
func withAnswer(text, label string, limit int) string {
	suffix := "✓ " + label
	if text == "" {
		return suffix
	}
	suffix = "\n" + suffix
	if room := limit - utf8.RuneCountInString(suffix); utf8.RuneCountInString(text) > room {
		r := []rune(text)
		text = string(r[:max(room-1, 0)]) + "…"
	}
	return text + suffix
}

// savePhoto downloads a photo into {dataDir}/photos/{file_unique_id}{ext}
// and returns its path; a photo already there is not fetched again.
func (a *Adapter) savePhoto(ctx context.Context, fileID, uniqueID, ext string) (string, error) {
	dir := filepath.Join(a.dataDir, "photos")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("telegram: photo directory: %w: %w", bot.ErrTransient, err)
	}
	name := safeName(uniqueID)
	if name == "" {
		name = safeName(fileID)
	}
	if name == "" {
		return "", errors.New("telegram: a photo without a file id")
	}
	dst := filepath.Join(dir, name+ext)
	if st, err := os.Stat(dst); err == nil && st.Size() > 0 {
		return dst, nil
	}
	var f tgbotapi.File
	if err := a.do(ctx, "getFile", func(b *tgbotapi.BotAPI) (err error) {
		f, err = b.GetFile(tgbotapi.FileConfig{FileID: fileID})
		return err
	}); err != nil {
		return "", err
	}
	if f.FilePath == "" {
		return "", errors.New("telegram getFile: no file_path in the answer")
	}
	if err := a.download(ctx, f.FilePath, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// download fetches {base}/file/bot{token}/{filePath} into dst, through a
// temporary file so that dst is whole or absent. (tgbotapi's File.Link
// ignores a custom API URL.)
func (a *Adapter) download(ctx context.Context, filePath, dst string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	segs := strings.Split(strings.TrimPrefix(filePath, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.fileBase+"/"+strings.Join(segs, "/"), nil)
	if err != nil {
		return fmt.Errorf("telegram download: %w", redact(err, a.token))
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("telegram download: %w: %w", bot.ErrTransient, redact(err, a.token))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("telegram download: HTTP %d", resp.StatusCode)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			err = fmt.Errorf("%w: %w", err, bot.ErrTransient)
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return fmt.Errorf("telegram download: %w: %w", bot.ErrTransient, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, this fails harmlessly
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, maxDownload+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("telegram download: %w: %w", bot.ErrTransient, redact(err, a.token))
	}
	if n > maxDownload {
		return fmt.Errorf("telegram download: file larger than %d bytes", maxDownload)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("telegram download: %w: %w", bot.ErrTransient, err)
	}
	return nil
}

// safeName keeps the characters Telegram uses in file ids.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}
