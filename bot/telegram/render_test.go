package telegram_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot"
	"sewa/bot/telegram"
)

// describe flattens one rendered call: method, chat, text or caption, file,
// and the keyboard as the JSON Telegram receives.
func describe(c tgbotapi.Chattable) string {
	js := func(v any) string {
		if v == nil {
			return "-"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	switch c := c.(type) {
	case tgbotapi.MessageConfig:
		return fmt.Sprintf("sendMessage %d %q %s", c.ChatID, c.Text, js(c.ReplyMarkup))
	case tgbotapi.PhotoConfig:
		return fmt.Sprintf("sendPhoto %d %v caption=%q %s", c.ChatID, c.File, c.Caption, js(c.ReplyMarkup))
	case tgbotapi.DocumentConfig:
		return fmt.Sprintf("sendDocument %d %v caption=%q %s", c.ChatID, c.File, c.Caption, js(c.ReplyMarkup))
	}
	return fmt.Sprintf("%T", c)
}

func TestRender(t *testing.T) {
	yesNo := []bot.Choice{{Data: "y", Label: "Yes"}, {Data: "n", Label: "No"}}
	long := strings.Repeat("x", 1100)
	cases := []struct {
		name string
		out  bot.Outgoing
		want []string
	}{
		{"text", bot.Outgoing{Text: "Your request R-42 is approved."},
			[]string{`sendMessage 11 "Your request R-42 is approved." -`}},
		{"two short choices share a row", bot.Outgoing{Text: "Approve?", Choices: yesNo},
			[]string{`sendMessage 11 "Approve?" {"inline_keyboard":[[{"text":"Yes","callback_data":"y"},{"text":"No","callback_data":"n"}]]}`}},
		{"three short choices", bot.Outgoing{Text: "Kits?", Choices: []bot.Choice{{Data: "1", Label: "One"}, {Data: "2", Label: "Two"}, {Data: "3", Label: "Three"}}},
			[]string{`sendMessage 11 "Kits?" {"inline_keyboard":[[{"text":"One","callback_data":"1"},{"text":"Two","callback_data":"2"}],[{"text":"Three","callback_data":"3"}]]}`}},
		{"long labels one per row", bot.Outgoing{Text: "Donor?", Choices: []bot.Choice{{Data: "known", Label: "A person we know"}, {Data: "web", Label: "A website donation"}}},
			[]string{`sendMessage 11 "Donor?" {"inline_keyboard":[[{"text":"A person we know","callback_data":"known"}],[{"text":"A website donation","callback_data":"web"}]]}`}},
		{"one choice", bot.Outgoing{Text: "Done?", Choices: []bot.Choice{{Data: "done", Label: "Delivered"}}},
			[]string{`sendMessage 11 "Done?" {"inline_keyboard":[[{"text":"Delivered","callback_data":"done"}]]}`}},
		{"an empty label shows the data", bot.Outgoing{Text: "Pick", Choices: []bot.Choice{{Data: "R-12"}}},
			[]string{`sendMessage 11 "Pick" {"inline_keyboard":[[{"text":"R-12","callback_data":"R-12"}]]}`}},
		{"share my number", bot.Outgoing{Text: "Your mobile number?", AskPhone: true},
			[]string{`sendMessage 11 "Your mobile number?" {"keyboard":[[{"text":"📱 Share my number","request_contact":true}]],"resize_keyboard":true,"one_time_keyboard":true}`}},
		{"share my number with choices", bot.Outgoing{Text: "Your mobile number?", AskPhone: true, Choices: []bot.Choice{{Data: "skip", Label: "Skip"}}},
			[]string{`sendMessage 11 "Your mobile number?" {"keyboard":[[{"text":"📱 Share my number","request_contact":true}],[{"text":"Skip"}]],"resize_keyboard":true,"one_time_keyboard":true}`}},
		{"image with caption and buttons", bot.Outgoing{Text: "Blur ok?", Image: "/data/o/9.jpg", Choices: yesNo},
			[]string{`sendPhoto 11 /data/o/9.jpg caption="Blur ok?" {"inline_keyboard":[[{"text":"Yes","callback_data":"y"},{"text":"No","callback_data":"n"}]]}`}},
		{"image with a text too long for a caption", bot.Outgoing{Text: long, Image: "/data/o/9.jpg", Choices: yesNo},
			[]string{`sendPhoto 11 /data/o/9.jpg caption="" -`,
				`sendMessage 11 "` + long + `" {"inline_keyboard":[[{"text":"Yes","callback_data":"y"},{"text":"No","callback_data":"n"}]]}`}},
		{"document", bot.Outgoing{Text: "Receipt for D-17", Document: "/data/receipts/D-17.pdf"},
			[]string{`sendDocument 11 /data/receipts/D-17.pdf caption="Receipt for D-17" -`}},
		{"image only", bot.Outgoing{Image: "/p.jpg"},
			[]string{`sendPhoto 11 /p.jpg caption="" -`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls, err := telegram.Render(11, c.out)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, call := range calls {
				got = append(got, describe(call))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	for name, out := range map[string]bot.Outgoing{
		"nothing to send":   {Text: "  "},
		"data too long":     {Text: "x", Choices: []bot.Choice{{Data: strings.Repeat("d", 65), Label: "L"}}},
		"empty choice data": {Text: "x", Choices: []bot.Choice{{Label: "L"}}},
	} {
		if _, err := telegram.Render(11, out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// 64 bytes is the limit, counted in bytes, not runes.
	if _, err := telegram.Render(11, bot.Outgoing{Text: "x", Choices: []bot.Choice{{Data: strings.Repeat("द", 21), Label: "L"}}}); err != nil {
		t.Errorf("63 bytes refused: %v", err)
	}
	if _, err := telegram.Render(11, bot.Outgoing{Text: "x", Choices: []bot.Choice{{Data: strings.Repeat("द", 22), Label: "L"}}}); err == nil {
		t.Error("66 bytes accepted")
	}
}

func TestRenderLongTextKeyboardOnLastPart(t *testing.T) {
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf("%03d अनुरोध: 4 किट, ओखला", i)+strings.Repeat(".", 20))
	}
	calls, err := telegram.Render(11, bot.Outgoing{Text: strings.Join(lines, "\n"), Choices: []bot.Choice{{Data: "ok", Label: "OK"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 {
		t.Fatalf("%d calls", len(calls))
	}
	for i, c := range calls {
		m := c.(tgbotapi.MessageConfig)
		if n := utf8.RuneCountInString(m.Text); n > telegram.MaxText {
			t.Errorf("part %d has %d runes", i, n)
		}
		if (m.ReplyMarkup != nil) != (i == len(calls)-1) {
			t.Errorf("part %d: keyboard %v", i, m.ReplyMarkup)
		}
	}
}

func TestSplitText(t *testing.T) {
	line := strings.Repeat("a", 99) // 100 runes with its newline
	var hundred []string
	for range 50 {
		hundred = append(hundred, line)
	}
	words := strings.TrimSpace(strings.Repeat("word ", 30)) // 149 runes
	cases := []struct {
		name  string
		text  string
		limit int
		want  []int // rune counts of the parts
	}{
		{"empty", "", 10, nil},
		{"fits", "hello", 10, []int{5}},
		{"exactly the limit", strings.Repeat("a", 10), 10, []int{10}},
		{"on line boundaries", strings.Join(hundred, "\n"), 1000, []int{999, 999, 999, 999, 999}},
		{"a long line on spaces", words, 50, []int{49, 49, 49}},
		{"a long word anywhere", strings.Repeat("x", 25), 10, []int{10, 10, 5}},
		{"runes, not bytes", strings.Repeat("क", 15), 10, []int{10, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parts := telegram.SplitText(c.text, c.limit)
			var got []int
			for _, p := range parts {
				got = append(got, utf8.RuneCountInString(p))
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("rune counts %v, want %v", got, c.want)
			}
			if c.name == "on line boundaries" && strings.Join(parts, "\n") != c.text {
				t.Error("parts do not add up to the text")
			}
			if c.name == "a long line on spaces" {
				for _, p := range parts {
					if strings.HasPrefix(p, " ") || strings.HasSuffix(p, " ") || strings.Contains(p, "wor ") {
						t.Errorf("cut inside a word or kept a space: %q", p)
					}
				}
			}
		})
	}
}

func TestShareNumberLabelFollowsTheReader(t *testing.T) {
	kb := telegram.ShareNumberKeyboard("📱 मेरा नंबर भेजें", nil)
	if got := kb.Keyboard[0][0]; got.Text != "📱 मेरा नंबर भेजें" || !got.RequestContact {
		t.Errorf("button = %+v", got)
	}
	if got := telegram.ShareNumberKeyboard("", nil).Keyboard[0][0].Text; got != telegram.ShareNumberLabel {
		t.Errorf("default label = %q", got)
	}
}

func TestShareLocationKeyboard(t *testing.T) {
	kb := telegram.ShareLocationKeyboard("", []bot.Choice{{Data: "v1:skip", Label: "Skip"}})
	if b := kb.Keyboard[0][0]; !b.RequestLocation || b.Text != telegram.ShareLocationLabel {
		t.Errorf("first button = %+v", b)
	}
	if b := kb.Keyboard[1][0]; b.Text != "Skip" || b.RequestLocation || !kb.OneTimeKeyboard {
		t.Errorf("choices below it: %+v", kb)
	}
}
