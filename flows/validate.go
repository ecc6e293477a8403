package flows

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxAnswer is the longest free-text answer kept, in runes; longer answers
// are refused with a reason rather than cut silently.
const MaxAnswer = 500

// skipWords answer an optional question with nothing.
var skipWords = []string{"skip", "-", "no", "none", "nothing", "na", "n/a", "nil", "छोड़ें", "छोड़ो", "नहीं", "कुछ नहीं", "nahi", "nahin"}

var yesWords = []string{"yes", "y", "haan", "ha", "han", "हाँ", "हां", "हा", "जी", "ok", "okay"}
var noWords = []string{"no", "n", "nahi", "nahin", "नहीं", "ना"}

// Validate checks an answer to q and returns the value to keep, or what was
// wrong with it. It never fails on odd input: invalid UTF-8 and huge texts
// come back as problems.
func Validate(q *Question, in Input) (string, *Msg) {
	text := strings.TrimSpace(in.Text)
	if !utf8.ValidString(text) {
		return "", &Msg{Key: "bad_text"}
	}
	if q.Optional && in.Choice == "skip" || q.Optional && in.Choice == "" && len(in.Photos) == 0 && (isOneOf(text, skipWords) && q.Type != TypeYesNo || text == strconv.Itoa(skipNumber(q))) {
		return "", nil
	}
	switch q.Type {
	case TypeText:
		if text == "" {
			return "", &Msg{Key: "want_text"}
		}
		if n := utf8.RuneCountInString(text); n > MaxAnswer {
			return "", &Msg{Key: "too_long", Args: []any{"max", MaxAnswer, "got", n}}
		}
		return text, nil
	case TypeNumber:
		return validateNumber(q, text)
	case TypePhone:
		if in.Phone != "" {
			text = in.Phone
		}
		if p, ok := IndianMobile(text); ok {
			return p, nil
		}
		return "", &Msg{Key: "want_phone"}
	case TypeChoice:
		if id := pickOption(q.Choices, in.Choice, text); id != "" {
			return id, nil
		}
		return "", &Msg{Key: "want_choice", Args: []any{"choices", optionList(q.Choices)}}
	case TypeYesNo:
		switch {
		case in.Choice == "yes" || isOneOf(text, yesWords) || text == "1":
			return "yes", nil
		case in.Choice == "no" || isOneOf(text, noWords) || text == "2":
			return "no", nil
		}
		return "", &Msg{Key: "want_yesno"}
	case TypePhoto:
		if len(in.Photos) > 0 {
			return strings.Join(in.Photos, "\n"), nil
		}
		return "", &Msg{Key: "want_photo"}
	case TypePlace:
		if in.Location != nil {
			return fmt.Sprintf("geo:%.6f,%.6f", in.Location.Lat, in.Location.Lon), nil
		}
		if text == "" {
			return "", &Msg{Key: "want_place"}
		}
		if n := utf8.RuneCountInString(text); n > MaxAnswer {
			return "", &Msg{Key: "too_long", Args: []any{"max", MaxAnswer, "got", n}}
		}
		return text, nil
	case TypePAN:
		if p, ok := panAnswer(text); ok {
			return p, nil
		}
		return "", &Msg{Key: "want_pan"}
	}
	return "", &Msg{Key: "want_text"}
}

// skipNumber is the number the Skip choice gets on channels that number
// choices: it comes after the question's own choices.
func skipNumber(q *Question) int {
	switch q.Type {
	case TypeChoice:
		return len(q.Choices) + 1
	case TypeYesNo:
		return 3
	case TypeNumber:
		return -1 // "1" is an answer here; skip by word or button
	}
	return 1
}

func validateNumber(q *Question, text string) (string, *Msg) {
	n, ok := onlyNumber(text)
	if !ok {
		return "", &Msg{Key: "want_number"}
	}
	if q.Min != nil && n < *q.Min || q.Max != nil && n > *q.Max {
		lo, hi := 0, 1000000
		if q.Min != nil {
			lo = *q.Min
		}
		if q.Max != nil {
			hi = *q.Max
		}
		return "", &Msg{Key: "number_range", Args: []any{"min", lo, "max", hi}}
	}
	return strconv.Itoa(n), nil
}

// onlyNumber finds the one whole number in s ("4", "4 kits", "४"); two
// numbers ("4-5") or none is not an answer.
func onlyNumber(s string) (int, bool) {
	var digits []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			digits = append(digits, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			cur.WriteRune(r)
		case r >= '०' && r <= '९': // Devanagari digits
			cur.WriteRune('0' + (r - '०'))
		case r == ',' && cur.Len() > 0:
			// 1,000 is one number
		default:
			flush()
		}
	}
	flush()
	if len(digits) != 1 || len(digits[0]) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(digits[0])
	return n, err == nil
}

// IndianMobile normalises an Indian mobile number to its 10 digits. It
// accepts spaces, dashes, a +91, 91 or 0 prefix, and Devanagari digits.
func IndianMobile(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '०' && r <= '९':
			b.WriteRune('0' + (r - '०'))
		case r == ' ' || r == '-' || r == '+' || r == '(' || r == ')' || r == '.':
		default:
			return "", false
		}
	}
	d := b.String()
	switch {
	case len(d) == 12 && strings.HasPrefix(d, "91"):
		d = d[2:]
	case len(d) == 11 && strings.HasPrefix(d, "0"):
		d = d[1:]
	}
	if len(d) != 10 || d[0] < '6' {
		return "", false
	}
	return d, true
}

// pickOption matches a pressed option id, a number ("2") or a label in any
// language, case-insensitively.
func pickOption(opts []*Option, choice, text string) string {
	for _, o := range opts {
		if choice != "" && o.ID == choice {
			return o.ID
		}
	}
	if text == "" {
		return ""
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(text, ".")); err == nil && n >= 1 && n <= len(opts) {
		return opts[n-1].ID
	}
	for _, o := range opts {
		if strings.EqualFold(text, o.ID) {
			return o.ID
		}
		for _, label := range o.Label {
			if strings.EqualFold(normalise(text), normalise(label)) {
				return o.ID
			}
		}
	}
	return ""
}

func optionList(opts []*Option) string {
	parts := make([]string, len(opts))
	for i := range opts {
		parts[i] = fmt.Sprintf("%d", i+1)
	}
	return strings.Join(parts, ", ")
}

func isOneOf(text string, words []string) bool {
	t := normalise(text)
	for _, w := range words {
		if t == w {
			return true
		}
	}
	return false
}

// normalise lower-cases and drops punctuation and emoji at the ends, so
// "Yes!" and "✅ Yes" match "yes".
func normalise(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.TrimFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Mn, r) && !unicode.Is(unicode.Mc, r) && r != '-' && r != '/'
	})
}

// panAnswer accepts a PAN typed with spaces ("abcde 1234 f") and checks it
// with ValidPAN.
func panAnswer(s string) (string, bool) {
	return ValidPAN(strings.Join(strings.Fields(s), ""))
}
