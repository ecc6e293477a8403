package flows

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// smsCase is one line of testdata/sms/*.jsonl. A field absent from Expect
// is not checked; a field present as null must come back nil.
type smsCase struct {
	ID     string                     `json:"id"`
	SMS    string                     `json:"sms"`
	Expect map[string]json.RawMessage `json:"expect"`
	Source string                     `json:"source"`
	Tags   []string                   `json:"tags"`

	file string
	line int
}

var smsExpectFields = map[string]bool{
	"kind": true, "amount": true, "ref": true, "account_tail": true,
	"counterparty": true, "date": true, "bank": true,
}

func loadSMSCases(t testing.TB) []smsCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "sms", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SMS corpus under testdata/sms: %v", err)
	}
	var cases []smsCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var c smsCase
			dec := json.NewDecoder(strings.NewReader(line))
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("%s:%d: %v", f, n, err)
			}
			c.file, c.line = filepath.Base(f), n
			cases = append(cases, c)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return cases
}

func TestParseSMSCorpus(t *testing.T) {
	cases := loadSMSCases(t)
	seen := map[string]string{}
	for _, c := range cases {
		where := c.file + ":" + strconv.Itoa(c.line)
		if c.ID == "" || c.Expect == nil || c.Source == "" {
			t.Errorf("%s: case needs id, expect and source", where)
			continue
		}
		if prev, dup := seen[c.ID]; dup {
			t.Errorf("%s: id %q already used at %s", where, c.ID, prev)
		}
		seen[c.ID] = where
		t.Run(c.ID, func(t *testing.T) {
			got := ParseSMS(c.SMS)
			raw, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var gotFields map[string]any
			if err := json.Unmarshal(raw, &gotFields); err != nil {
				t.Fatal(err)
			}
			want, have := map[string]any{}, map[string]any{}
			for k, v := range c.Expect {
				if !smsExpectFields[k] {
					t.Fatalf("%s: unknown expect field %q", where, k)
				}
				var w any
				if err := json.Unmarshal(v, &w); err != nil {
					t.Fatalf("%s: expect.%s: %v", where, k, err)
				}
				want[k], have[k] = w, gotFields[k]
			}
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("%s (%s)\nsms: %q\nreason: %q\n(-want +got):\n%s", where, c.Source, c.SMS, got.Reason, diff)
			}
			checkSMSInvariants(t, c.SMS, got)
		})
	}
}

var twoDecimals = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)

// checkSMSInvariants holds for every input, good or garbage.
func checkSMSInvariants(t *testing.T, in string, s SMS) {
	t.Helper()
	switch s.Kind {
	case SMSCredit:
		if s.Amount == nil {
			t.Fatalf("credit without amount for %q", in)
		}
		if s.Reason != "" {
			t.Errorf("credit with reason %q", s.Reason)
		}
	case SMSDebit:
		if s.Reason == "" {
			t.Errorf("debit without reason for %q", in)
		}
	case SMSNone:
		if s.Reason == "" {
			t.Errorf("none without reason for %q", in)
		}
		if s.Amount != nil || s.Ref != nil || s.AccountTail != nil || s.Counterparty != nil || s.Date != nil || s.Bank != nil {
			t.Errorf("none with fields set for %q: %+v", in, s)
		}
	default:
		t.Fatalf("kind %q for %q", s.Kind, in)
	}
	if s.Amount != nil && !twoDecimals.MatchString(*s.Amount) {
		t.Errorf("amount %q is not digits.2 for %q", *s.Amount, in)
	}
	if s.Date != nil {
		if _, err := time.Parse("2006-01-02", *s.Date); err != nil {
			t.Errorf("date %q: %v (input %q)", *s.Date, err, in)
		}
	}
	if s.AccountTail != nil && (*s.AccountTail == "" || strings.Trim(*s.AccountTail, "0123456789") != "") {
		t.Errorf("account tail %q is not digits for %q", *s.AccountTail, in)
	}
	for _, p := range []*string{s.Ref, s.Counterparty, s.Bank} {
		if p != nil && (*p == "" || !utf8.ValidString(*p)) {
			t.Errorf("empty or invalid field %q for %q", *p, in)
		}
	}
}

// TestParseSMSNeverCreditsDebitsOrOTPs checks the promise the bot relies
// on most: whatever else is in the text, these never come back as a credit.
func TestParseSMSNeverCreditsDebitsOrOTPs(t *testing.T) {
	for _, in := range []string{
		"Your A/c XX1234 is debited for Rs 500 and credited to VPA shop@ybl UPI Ref 412345678901 -SBI",
		"Rs.500 credited to a/c XX9999 from your a/c XX1234. IMPS Ref 412345678901",
		"OTP 445566 to receive Rs 5,000.00 credited to your A/c XX1234. Do not share. -HDFC Bank",
		"Rs 5000 credited to your account XX1234. Share OTP 123456 to confirm",
		"रु 500 आपके खाते XX1234 से नामे किए गए और RAMESH के खाते में जमा",
		"Your a/c XX1234 credited with Rs 100 (reversal of failed txn Ref 412345678901)",
		"Refund of Rs.250.00 credited to your A/c XX1234 on 12-03-24. Ref 412345678901 -ICICI Bank",
		"You have a UPI collect request of Rs 1,000 from abc@okaxis. Approve to pay. -Axis Bank",
		"Rs 2000 will be credited to your A/c XX1234 on 14-03-24 -PNB",
	} {
		if got := ParseSMS(in); got.Kind == SMSCredit {
			t.Errorf("ParseSMS(%q) = credit %+v; want debit or none", in, got)
		}
	}
}

func TestParseSMSHostileInput(t *testing.T) {
	huge := strings.Repeat("Rs 1,00,000 credited to A/c XX1234 ", 100000)
	bad := string([]byte{0xff, 0xfe, 'R', 's', ' ', '5', 0xc3})
	for name, in := range map[string]string{
		"empty":       "",
		"spaces":      " \n\t ",
		"huge":        huge,
		"invalid":     bad,
		"cut rune":    strings.Repeat("a", maxSMSBytes-1) + "₹",
		"nul":         "Rs\x00500 credited to A/c XX1234",
		"digits only": strings.Repeat("9", 5000),
		"commas":      "Rs " + strings.Repeat(",", 3000) + "1 credited to A/c XX1234",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			got := ParseSMS(in)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
			checkSMSInvariants(t, in, got)
		})
	}
}

func TestNormaliseRupees(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"750", "750.00", true},
		{"1,100.00", "1100.00", true},
		{"1,00,000", "100000.00", true},
		{"1,00,000.5", "100000.50", true},
		{"100,000.00", "100000.00", true},
		{"90.0", "90.00", true},
		{"6000.000", "6000.00", true},
		{"0012.30", "12.30", true},
		{"500,", "500.00", true},
		{"500.", "500.00", true},
		{"5.001", "", false},
		{"1,0,0", "", false},
		{"12,34.50", "", false},
		{"100,00", "", false},  // found by FuzzParseSMS: used to panic
		{"5000,21", "", false}, // a date glued on: not sure of the amount
		{"1,00,00", "", false}, // typo for a lakh? refuse
		{",500", "", false},
		{"", "", false},
		{"12345678901234", "", false},
	} {
		got, ok := normaliseRupees(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("normaliseRupees(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseSMS(f *testing.F) {
	for _, c := range loadSMSCases(f) {
		f.Add(c.SMS)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSMSInvariants(t, in, ParseSMS(in))
	})
}
