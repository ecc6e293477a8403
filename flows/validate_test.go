package flows_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"sewa/flows"
)

func intp(n int) *int { return &n }

func TestValidate(t *testing.T) {
	choice := &flows.Question{ID: "outcome", Type: flows.TypeChoice, Choices: []*flows.Option{
		{ID: "approve", Label: flows.Text{"en": "Approve", "hi": "स्वीकार"}},
		{ID: "reject", Label: flows.Text{"en": "Reject", "hi": "अस्वीकार"}},
	}}
	number := &flows.Question{ID: "kits", Type: flows.TypeNumber, Min: intp(1), Max: intp(50)}
	tests := []struct {
		name    string
		q       *flows.Question
		in      flows.Input
		want    string
		problem string
	}{
		{"text", &flows.Question{Type: flows.TypeText}, flows.Input{Text: "  Asha  "}, "Asha", ""},
		{"empty text", &flows.Question{Type: flows.TypeText}, flows.Input{Text: "  "}, "", "want_text"},
		{"too long", &flows.Question{Type: flows.TypeText}, flows.Input{Text: strings.Repeat("a", 501)}, "", "too_long"},
		{"invalid utf8", &flows.Question{Type: flows.TypeText}, flows.Input{Text: "a\xffb"}, "", "bad_text"},
		{"number", number, flows.Input{Text: "4"}, "4", ""},
		{"number with words", number, flows.Input{Text: "4 kits"}, "4", ""},
		{"devanagari digits", number, flows.Input{Text: "४"}, "4", ""},
		{"number in words", number, flows.Input{Text: "four"}, "", "want_number"},
		{"range of numbers", number, flows.Input{Text: "4-5"}, "", "want_number"},
		{"below min", number, flows.Input{Text: "0"}, "", "number_range"},
		{"above max", number, flows.Input{Text: "51"}, "", "number_range"},
		{"huge number", number, flows.Input{Text: "99999999999999999999"}, "", "want_number"},
		{"phone plain", &flows.Question{Type: flows.TypePhone}, flows.Input{Text: "9812345678"}, "9812345678", ""},
		{"phone +91 spaced", &flows.Question{Type: flows.TypePhone}, flows.Input{Text: "+91 98123-45678"}, "9812345678", ""},
		{"phone 0 prefix", &flows.Question{Type: flows.TypePhone}, flows.Input{Text: "09812345678"}, "9812345678", ""},
		{"phone shared contact", &flows.Question{Type: flows.TypePhone}, flows.Input{Phone: "+919812345678"}, "9812345678", ""},
		{"phone landline-like", &flows.Question{Type: flows.TypePhone}, flows.Input{Text: "2212345678"}, "", "want_phone"},
		{"phone short", &flows.Question{Type: flows.TypePhone}, flows.Input{Text: "98123"}, "", "want_phone"},
		{"phone letters", &flows.Question{Type: flows.TypePhone}, flows.Input{Text: "call me"}, "", "want_phone"},
		{"choice press", choice, flows.Input{Choice: "reject"}, "reject", ""},
		{"choice number", choice, flows.Input{Text: "1"}, "approve", ""},
		{"choice label", choice, flows.Input{Text: "reject"}, "reject", ""},
		{"choice hindi label", choice, flows.Input{Text: "स्वीकार"}, "approve", ""},
		{"choice out of range", choice, flows.Input{Text: "3"}, "", "want_choice"},
		{"yes", &flows.Question{Type: flows.TypeYesNo}, flows.Input{Text: "Yes!"}, "yes", ""},
		{"haan", &flows.Question{Type: flows.TypeYesNo}, flows.Input{Text: "हाँ"}, "yes", ""},
		{"no", &flows.Question{Type: flows.TypeYesNo}, flows.Input{Text: "nahi"}, "no", ""},
		{"maybe", &flows.Question{Type: flows.TypeYesNo}, flows.Input{Text: "maybe"}, "", "want_yesno"},
		{"photo", &flows.Question{Type: flows.TypePhoto}, flows.Input{Photos: []string{"a.jpg"}}, "a.jpg", ""},
		{"photo missing", &flows.Question{Type: flows.TypePhoto}, flows.Input{Text: "here"}, "", "want_photo"},
		{"optional photo skipped", &flows.Question{Type: flows.TypePhoto, Optional: true}, flows.Input{Text: "skip"}, "", ""},
		{"optional skip button", &flows.Question{Type: flows.TypeText, Optional: true}, flows.Input{Choice: "skip"}, "", ""},
		{"place text", &flows.Question{Type: flows.TypePlace}, flows.Input{Text: "Near the temple"}, "Near the temple", ""},
		{"place location", &flows.Question{Type: flows.TypePlace}, flows.Input{Location: &flows.Location{Lat: 28.5, Lon: 77.25}}, "geo:28.500000,77.250000", ""},
		{"pan", &flows.Question{Type: flows.TypePAN}, flows.Input{Text: "abcde1234f"}, "ABCDE1234F", ""},
		{"pan wrong shape", &flows.Question{Type: flows.TypePAN}, flows.Input{Text: "ABCDE12345"}, "", "want_pan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := flows.Validate(tt.q, tt.in)
			gotProblem := ""
			if problem != nil {
				gotProblem = problem.Key
			}
			if got != tt.want || gotProblem != tt.problem {
				t.Errorf("Validate = %q, %q; want %q, %q", got, gotProblem, tt.want, tt.problem)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"4", "+91 98123 45678", "हाँ", "a\xffb", "1,000", "४५", "skip", "geo:1,2", ""} {
		f.Add(s)
	}
	qs := []*flows.Question{
		{Type: flows.TypeText}, {Type: flows.TypeNumber, Min: intp(1), Max: intp(50)}, {Type: flows.TypePhone},
		{Type: flows.TypeYesNo}, {Type: flows.TypePlace}, {Type: flows.TypePAN}, {Type: flows.TypePhoto, Optional: true},
		{Type: flows.TypeChoice, Choices: []*flows.Option{{ID: "a", Label: flows.Text{"en": "A"}}, {ID: "b", Label: flows.Text{"en": "B"}}}},
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, q := range qs {
			v, problem := flows.Validate(q, flows.Input{Text: s})
			if problem != nil && v != "" {
				t.Fatalf("%s: value %q with problem %s", q.Type, v, problem.Key)
			}
			if problem == nil && !utf8.ValidString(v) {
				t.Fatalf("%s: kept invalid UTF-8 %q", q.Type, v)
			}
			if q.Type == flows.TypePhone && problem == nil && v != "" && len(v) != 10 {
				t.Fatalf("phone %q kept as %q", s, v)
			}
		}
	})
}
