package whatsapp_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"sewa/bot"
	"sewa/bot/whatsapp"
)

func choices(labels ...string) []bot.Choice {
	var cs []bot.Choice
	for i, l := range labels {
		cs = append(cs, bot.Choice{Data: fmt.Sprintf("v1:%d", i), Label: l})
	}
	return cs
}

func TestRender(t *testing.T) {
	long := strings.Repeat("a line of a long guide\n", 300) // ~6900 runes
	cases := []struct {
		name string
		m    bot.Outgoing
		want []whatsapp.Part
	}{
		{"plain text", bot.Outgoing{Text: "  Thank you.  "}, []whatsapp.Part{{Kind: whatsapp.PartText, Text: "Thank you."}}},
		{"three choices", bot.Outgoing{Text: "What would you like to do?", Choices: choices("Request a ration kit", "Volunteer with us", "Where is my request?")},
			[]whatsapp.Part{{Kind: whatsapp.PartText, Text: "What would you like to do?\n\n1. Request a ration kit\n2. Volunteer with us\n3. Where is my request?\n\nReply 1, 2 or 3."}}},
		{"one choice", bot.Outgoing{Text: "Anything we should know?", Choices: choices("Skip")},
			[]whatsapp.Part{{Kind: whatsapp.PartText, Text: "Anything we should know?\n\n1. Skip\n\nReply 1."}}},
		{"two choices", bot.Outgoing{Text: "Approve?", Choices: choices("Yes", "No")},
			[]whatsapp.Part{{Kind: whatsapp.PartText, Text: "Approve?\n\n1. Yes\n2. No\n\nReply 1 or 2."}}},
		{"many choices", bot.Outgoing{Text: "Which area?", Choices: choices("A", "B", "C", "D", "E", "F")},
			[]whatsapp.Part{{Kind: whatsapp.PartText, Text: "Which area?\n\n1. A\n2. B\n3. C\n4. D\n5. E\n6. F\n\nReply a number from 1 to 6."}}},
		{"Hindi", bot.Outgoing{Text: "आप क्या करना चाहेंगे?", Choices: choices("राशन किट माँगें", "स्वयंसेवक बनें", "मेरा अनुरोध कहाँ है?")},
			[]whatsapp.Part{{Kind: whatsapp.PartText, Text: "आप क्या करना चाहेंगे?\n\n1. राशन किट माँगें\n2. स्वयंसेवक बनें\n3. मेरा अनुरोध कहाँ है?\n\n1, 2 या 3 भेजें।"}}},
		{"image with caption", bot.Outgoing{Text: "Delivered", Image: "/data/p.jpg"},
			[]whatsapp.Part{{Kind: whatsapp.PartImage, Text: "Delivered", Path: "/data/p.jpg"}}},
		{"image and document", bot.Outgoing{Text: "Receipt", Image: "/p.jpg", Document: "/r.pdf"},
			[]whatsapp.Part{{Kind: whatsapp.PartImage, Text: "Receipt", Path: "/p.jpg"}, {Kind: whatsapp.PartDocument, Path: "/r.pdf"}}},
		{"document without text", bot.Outgoing{Document: "/r.pdf"}, []whatsapp.Part{{Kind: whatsapp.PartDocument, Path: "/r.pdf"}}},
		{"nothing", bot.Outgoing{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := whatsapp.Render(c.m)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}

	t.Run("long text is split on lines", func(t *testing.T) {
		parts := whatsapp.Render(bot.Outgoing{Text: long, Image: "/p.jpg"})
		if len(parts) != 3 || parts[0].Kind != whatsapp.PartImage || parts[0].Text != "" {
			t.Fatalf("%d parts, first %v", len(parts), parts[0])
		}
		var joined []string
		for _, p := range parts[1:] {
			if n := utf8.RuneCountInString(p.Text); n > whatsapp.MaxText || !strings.HasSuffix(p.Text, "guide") {
				t.Errorf("part of %d runes ending %q", n, p.Text[len(p.Text)-10:])
			}
			joined = append(joined, p.Text)
		}
		if strings.Join(joined, "\n") != strings.TrimSpace(long) {
			t.Error("the parts do not add up to the text")
		}
	})
}

func TestSplitText(t *testing.T) {
	cases := []struct {
		in    string
		limit int
		want  []string
	}{
		{"", 10, nil},
		{"short", 10, []string{"short"}},
		{"one two three four", 9, []string{"one two", "three", "four"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"नमस्ते दुनिया", 7, []string{"नमस्ते", "दुनिया"}},
	}
	for _, c := range cases {
		if got := whatsapp.SplitText(c.in, c.limit); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
			t.Errorf("SplitText(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
}
