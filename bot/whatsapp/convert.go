package whatsapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"sewa/bot"
)

// kind is what a WhatsApp message carries, decided once by classify.
type kind int

const (
	kindNone     kind = iota // protocol traffic, reactions, edits: nothing a person said to Sewa
	kindText                 // conversation or extended text (replies, links)
	kindImage                // a photo, or an image sent as a document
	kindLocation             // a shared (or live) location
	kindOther                // content Sewa cannot use: sticker, voice, video, document, …
)

func (k kind) String() string {
	return [...]string{"none", "text", "image", "location", "other"}[k]
}

// dropReason says why a message is not for Sewa at all, or "" when it is:
// only private chats with other people are.
func dropReason(e *events.Message) string {
	info := e.Info
	switch {
	case e.Message == nil:
		return "no content"
	case info.IsFromMe:
		return "our own message"
	case info.Chat == types.StatusBroadcastJID || info.Chat.Server == types.BroadcastServer && !info.Chat.IsBroadcastList():
		return "status update"
	case info.IsGroup || info.Chat.Server == types.GroupServer:
		return "group message"
	case info.Chat.Server == types.NewsletterServer:
		return "channel post"
	case e.IsEdit:
		return "edit of an earlier message"
	}
	return ""
}

// classify names the kind of m, and for kindOther the name of the kind
// ("sticker", "voice", …) the runtime explains with messages.yaml's kind_*.
func classify(m *waE2E.Message) (kind, string) {
	switch {
	case m.GetConversation() != "" || m.GetExtendedTextMessage().GetText() != "":
		return kindText, ""
	case m.ImageMessage != nil:
		return kindImage, ""
	case m.DocumentMessage != nil && strings.HasPrefix(m.DocumentMessage.GetMimetype(), "image/"):
		return kindImage, ""
	case m.LocationMessage != nil || m.LiveLocationMessage != nil:
		return kindLocation, ""
	case m.StickerMessage != nil || m.LottieStickerMessage != nil:
		return kindOther, "sticker"
	case m.AudioMessage != nil && m.AudioMessage.GetPTT():
		return kindOther, "voice"
	case m.AudioMessage != nil:
		return kindOther, "audio"
	case m.PtvMessage != nil:
		return kindOther, "video_note"
	case m.VideoMessage != nil:
		if m.VideoMessage.GetGifPlayback() {
			return kindOther, "animation"
		}
		return kindOther, "video"
	case m.DocumentMessage != nil:
		return kindOther, "document"
	case m.ContactMessage != nil || m.ContactsArrayMessage != nil:
		return kindOther, "contact"
	case m.PollCreationMessage != nil || m.PollCreationMessageV2 != nil || m.PollCreationMessageV3 != nil ||
		m.PollCreationMessageV4 != nil || m.PollCreationMessageV5 != nil:
		return kindOther, "poll"
	}
	return kindNone, ""
}

// convert turns a private message from phone (its digits) into a Message.
// ok is false for a message with nothing for Sewa; an error means the
// message could not be taken now (a download failed) and should come again.
func (a *Adapter) convert(ctx context.Context, e *events.Message, phone string) (m bot.Message, ok bool, err error) {
	m = bot.Message{
		Channel:    ChannelName,
		ExternalID: phone + "/" + e.Info.ID,
		User:       phone,
		Name:       e.Info.PushName,
		At:         e.Info.Timestamp,
	}
	k, other := classify(e.Message)
	switch k {
	case kindNone:
		return m, false, nil
	case kindText:
		m.Text = textOf(e.Message)
	case kindImage:
		err = a.convertImage(ctx, e, &m)
	case kindLocation:
		m.Location = locationOf(e.Message)
	case kindOther:
		m.Other = other
	}
	return m, err == nil, err
}

func textOf(m *waE2E.Message) string {
	if t := m.GetConversation(); t != "" {
		return t
	}
	return m.GetExtendedTextMessage().GetText()
}

func locationOf(m *waE2E.Message) *bot.Location {
	if l := m.GetLocationMessage(); l != nil {
		return &bot.Location{Lat: l.GetDegreesLatitude(), Lon: l.GetDegreesLongitude()}
	}
	l := m.GetLiveLocationMessage()
	return &bot.Location{Lat: l.GetDegreesLatitude(), Lon: l.GetDegreesLongitude()}
}

// media is what convertImage needs of an image or an image document.
type media interface {
	whatsmeow.DownloadableMessage
	GetCaption() string
	GetMimetype() string
}

// convertImage downloads the image into {dataDir}/photos and puts its path
// in m.Photos, its caption in m.Text. A photo WhatsApp no longer has (or
// that arrives damaged) is not worth waiting for: the message is taken
// without it, as content Sewa cannot use; any other failure is returned so
// that WhatsApp delivers the message again.
func (a *Adapter) convertImage(ctx context.Context, e *events.Message, m *bot.Message) error {
	var img media
	if im := e.Message.GetImageMessage(); im != nil {
		img = im
	} else {
		img = e.Message.GetDocumentMessage()
	}
	m.Text = img.GetCaption()
	path, err := a.savePhoto(ctx, img, e.Info.ID)
	switch {
	case err == nil:
		m.Photos = []string{path}
		return nil
	case mediaGone(err):
		a.log.Warn("whatsapp photo could not be downloaded; taken without it", "wa_id", e.Info.ID, "err", err)
		m.Other = "other"
		return nil
	}
	return err
}

// savePhoto stores img as {dataDir}/photos/wa-{sha256 prefix}{ext}, through
// a temporary file so the file is whole or absent. A photo already there
// (the same message delivered again) is not fetched again.
func (a *Adapter) savePhoto(ctx context.Context, img media, msgID string) (string, error) {
	dir := filepath.Join(a.dataDir, "photos")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("whatsapp: photo directory: %w", err)
	}
	name := safeName(msgID)
	if sum := img.GetFileSHA256(); len(sum) >= 16 {
		name = hex.EncodeToString(sum[:16])
	}
	if name == "" {
		sum := sha256.Sum256([]byte(img.GetDirectPath()))
		name = hex.EncodeToString(sum[:16])
	}
	dst := filepath.Join(dir, "wa-"+name+imageExt(img.GetMimetype()))
	if st, err := os.Stat(dst); err == nil && st.Size() > 0 {
		return dst, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.downloadTimeout)
	defer cancel()
	data, err := a.cli.Download(ctx, img)
	if err != nil {
		return "", fmt.Errorf("whatsapp: downloading a photo: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".wa-*")
	if err != nil {
		return "", fmt.Errorf("whatsapp: saving a photo: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("whatsapp: saving a photo: %w", err)
	}
	return dst, nil
}

// mediaGone says a download failed in a way a retry will not mend.
func mediaGone(err error) bool {
	for _, gone := range []error{
		whatsmeow.ErrNoURLPresent, whatsmeow.ErrMediaDownloadFailedWith403, whatsmeow.ErrMediaDownloadFailedWith404,
		whatsmeow.ErrMediaDownloadFailedWith410, whatsmeow.ErrFileLengthMismatch, whatsmeow.ErrTooShortFile,
		whatsmeow.ErrInvalidMediaHMAC, whatsmeow.ErrInvalidMediaEncSHA256, whatsmeow.ErrInvalidMediaSHA256,
		whatsmeow.ErrUnknownMediaType,
	} {
		if errors.Is(err, gone) {
			return true
		}
	}
	return false
}

func imageExt(mimetype string) string {
	mt, _, _ := strings.Cut(mimetype, ";")
	switch strings.TrimSpace(mt) {
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	case "image/heic":
		return ".heic"
	}
	return ".jpg"
}

// safeName keeps letters, digits, - and _ of s.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}
