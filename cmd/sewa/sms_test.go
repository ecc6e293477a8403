package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sewa/store"
)

const (
	hdfcSMS  = "Money Received - INR 1,100.00 in your HDFC Bank A/c xx3344 on 13-03-24 from VPA chitra.n@okaxis (UPI 407312200456)"
	kotakSMS = "Received Rs.5000.00 in your Kotak Bank A/c X2781 from bindu.p@oksbi on 15-03-24.UPI Ref:407511122990."
	debitSMS = "Rs.500.00 debited from A/c XX3344 on 14-03-24 to VPA shop@ybl UPI Ref 407412345678"
)

func TestSMSParse(t *testing.T) {
	tests := []struct {
		name, stdin string
		want        map[string]any
	}{
		{"credit", hdfcSMS + "\n", map[string]any{"kind": "credit", "amount": "1100.00", "ref": "407312200456", "account_tail": "3344",
			"counterparty": "chitra.n@okaxis", "date": "2024-03-13", "bank": "HDFC"}},
		{"debit says why", debitSMS, map[string]any{"kind": "debit", "reason": "money was sent, not received"}},
		{"not an SMS", "hello", map[string]any{"kind": "none", "amount": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runSewa(t, nil, tc.stdin, "sms", "parse")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil || strings.Count(out, "\n") != 1 {
				t.Fatalf("not one JSON line: %q (%v)", out, err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// parse --jsonl answers each line with one line, in order, ids echoed as
// they came, keys in the order; a bad line gets its error and the
// exit code says so.
func TestSMSParseJSONL(t *testing.T) {
	in := strings.Join([]string{
		`{"id": "pub-002", "sms": "` + hdfcSMS + `"}`,
		`{"id": 7, "sms": "` + debitSMS + `"}`,
		``,
		`not json`,
		`{"id": "t", "text": "` + kotakSMS + `"}`,
	}, "\n")
	code, out, errs := runSewa(t, nil, in, "sms", "parse", "--jsonl")
	if code != exitFailure || !strings.Contains(errs, "line 4") {
		t.Errorf("exit %d, stderr %q: want 1 and the bad line named", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines for 4 inputs:\n%s", len(lines), out)
	}
	want := `{"id":"pub-002","kind":"credit","amount":"1100.00","ref":"407312200456","account_tail":"3344","counterparty":"chitra.n@okaxis","date":"2024-03-13","bank":"HDFC"}`
	if lines[0] != want {
		t.Errorf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	for i, prefix := range []string{`{"id":7,"kind":"debit"`, `{"id":null,"kind":"none"`, `{"id":"t","kind":"credit","amount":"5000.00"`} {
		if !strings.HasPrefix(lines[i+1], prefix) {
			t.Errorf("line %d = %s, want it to start %s", i+2, lines[i+1], prefix)
		}
	}
	if !strings.Contains(lines[2], `"error":"line 4:`) {
		t.Errorf("bad line's answer has no error: %s", lines[2])
	}
}

// import reads plain lines, JSONL and SMS Backup & Restore XML, counts what
// it made, and a second import of the same file makes nothing new.
func TestSMSImport(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.txt")
	lines := []string{
		hdfcSMS,
		`{"id": 2, "sms": "` + hdfcSMS + `"}`, // the same money
		`<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>`,
		`<sms protocol="0" address="VM-KOTAKB" date="1710489600000" type="1" body="` + strings.ReplaceAll(kotakSMS, ".", "&#46;") + `" read="1" />`,
		debitSMS,
		"Your OTP is 482910. Do not share.",
		"",
		`{"id": 9, "title": "no text"}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SEWA_DB": filepath.Join(dir, "sewa.db")}
	code, out, errs := runSewa(t, vars, "", "sms", "import", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"D-1 ₹1,100.00 2024-03-13 ref 407312200456", "D-2 ₹5,000.00 2024-03-15 ref 407511122990",
		"created 2, duplicates 1, skipped 3 (not donations: 2, unreadable lines: 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "backup.txt:8") {
		t.Errorf("the unreadable line is not named: %q", errs)
	}
	code, out, _ = runSewa(t, vars, "", "sms", "import", file)
	if code != 0 || !strings.Contains(out, "created 0, duplicates 3, skipped 3") {
		t.Errorf("second import: exit %d\n%s", code, out)
	}
	st, err := store.Open(context.Background(), vars["SEWA_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var cards int
	st.DB().QueryRow(`SELECT count(*) FROM cards WHERE flow = 'donation' AND stage = 'identify'`).Scan(&cards)
	if cards != 2 {
		t.Errorf("%d donation cards in identify, want 2", cards)
	}
}

func TestSMSUsage(t *testing.T) {
	for _, args := range [][]string{{"sms"}, {"sms", "import"}, {"sms", "frob"}} {
		code, _, errs := runSewa(t, nil, "", args...)
		if code != exitUsage || !strings.Contains(errs, "sewa sms import FILE") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
	code, _, errs := runSewa(t, map[string]string{"SEWA_DB": filepath.Join(t.TempDir(), "x.db")}, "", "sms", "import", "/nonexistent/file")
	if code != exitUsage || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
}

func TestMoneyOptionsFromEnvironment(t *testing.T) {
	cfg, problems, err := loadConfig(nil, env(map[string]string{"SEWA_ORG_NAME": "Delhi Relief Collective",
		"SEWA_ORG_ADDRESS": `B-4 Okhla\nNew Delhi`, "SEWA_ORG_80G": "80G: AAATD1234EF20214", "SEWA_DB": "/data/sewa.db"}))
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	if cfg.OrgName != "Delhi Relief Collective" || cfg.OrgAddress != `B-4 Okhla\nNew Delhi` || cfg.Org80G != "80G: AAATD1234EF20214" {
		t.Errorf("config = %+v", cfg)
	}
	if n := len(moneyOptions(cfg)); n != 3 {
		t.Errorf("%d money options", n)
	}
}
