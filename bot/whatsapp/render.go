package whatsapp

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"sewa/bot"
)

// Limits that shape rendering. WhatsApp itself takes far longer texts;
// these keep each message readable on a phone.
const (
	MaxText    = 4096 // runes in one text message
	MaxCaption = 1024 // runes in an image's or document's caption
	MaxChoices = 10   // numbered choices Sewa offers at once (Caps.MaxChoices)
)

// PartKind is what one WhatsApp message of a Part carries.
type PartKind int

const (
	PartText PartKind = iota
	PartImage
	PartDocument
)

func (k PartKind) String() string {
	switch k {
	case PartImage:
		return "image"
	case PartDocument:
		return "document"
	}
	return "text"
}

// Part is one WhatsApp message of an Outgoing: a text, or an image or a
// document (Path) with Text as its caption.
type Part struct {
	Kind PartKind
	Text string
	Path string
}

// Render turns one outbox message into the WhatsApp messages that deliver
// it, in order: the image and/or the document (the text as the first one's
// caption when it fits), then the text split on line boundaries into parts
// of at most MaxText runes. WhatsApp has no buttons for a linked device, so
// choices are a numbered list followed by how to answer ("Reply 1, 2 or
// 3."); the runtime accepts the number or the label. Render does no I/O.
func Render(m bot.Outgoing) []Part {
	text := Body(m)
	var parts []Part
	if m.Image != "" {
		parts = append(parts, Part{Kind: PartImage, Path: m.Image})
	}
	if m.Document != "" {
		parts = append(parts, Part{Kind: PartDocument, Path: m.Document})
	}
	if len(parts) > 0 && utf8.RuneCountInString(text) <= MaxCaption {
		parts[0].Text, text = text, ""
	}
	for _, s := range SplitText(text, MaxText) {
		parts = append(parts, Part{Kind: PartText, Text: s})
	}
	return parts
}

// Body is the text of m with its choices numbered under it.
func Body(m bot.Outgoing) string {
	text := strings.TrimSpace(m.Text)
	if len(m.Choices) == 0 {
		return text
	}
	var b strings.Builder
	b.WriteString(text)
	if text != "" {
		b.WriteString("\n\n")
	}
	for i, c := range m.Choices {
		fmt.Fprintf(&b, "%d. %s\n", i+1, strings.TrimSpace(c.Label))
	}
	b.WriteString("\n")
	b.WriteString(ReplyHint(len(m.Choices), isHindi(text)))
	return b.String()
}

// ReplyHint says how to answer n numbered choices: "Reply 1.", "Reply 1 or
// 2.", "Reply 1, 2 or 3.", and from five on "Reply a number from 1 to 7.".
func ReplyHint(n int, hindi bool) string {
	if n <= 0 {
		return ""
	}
	if n >= 5 {
		if hindi {
			return fmt.Sprintf("1 से %d तक कोई नंबर भेजें।", n)
		}
		return fmt.Sprintf("Reply a number from 1 to %d.", n)
	}
	nums := make([]string, n)
	for i := range nums {
		nums[i] = strconv.Itoa(i + 1)
	}
	list := nums[0]
	if n > 1 {
		or := " or "
		if hindi {
			or = " या "
		}
		list = strings.Join(nums[:n-1], ", ") + or + nums[n-1]
	}
	if hindi {
		return list + " भेजें।"
	}
	return "Reply " + list + "."
}

// isHindi says the text is mostly in Devanagari: the hint under the
// choices then speaks Hindi too. (An Outgoing carries no language.)
func isHindi(s string) bool {
	dev, latin := 0, 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Devanagari, r):
			dev++
		case r < utf8.RuneSelf && unicode.IsLetter(r):
			latin++
		}
	}
	return dev > latin
}

// SplitText cuts s into pieces of at most limit runes, at line ends where it
// can, else at spaces, else anywhere. An empty s gives no pieces.
func SplitText(s string, limit int) []string {
	s = strings.TrimSpace(s)
	var out []string
	for s != "" {
		if utf8.RuneCountInString(s) <= limit {
			out = append(out, s)
			break
		}
		cut := byteIndexOfRune(s, limit) // s[:cut] has limit runes
		head := s[:cut]
		if i := strings.LastIndex(head, "\n"); i > 0 {
			cut = i
		} else if i := strings.LastIndex(head, " "); i > 0 {
			cut = i
		}
		out = append(out, strings.TrimSpace(s[:cut]))
		s = strings.TrimSpace(s[cut:])
	}
	return out
}

func byteIndexOfRune(s string, n int) int {
	i := 0
	for pos := range s {
		if i == n {
			return pos
		}
		i++
	}
	return len(s)
}
