package flows_test

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"sewa/flows"
)

var testOrg = flows.Org{
	Name:         "Delhi Relief Collective",
	Address:      "B-4 Okhla Phase 2, New Delhi 110020",
	Registration: "Reg. No. DL/2020/0042\n80G: AAATD1234EF20214 dated 1 June 2021",
}

func donationCard(fields map[string]string) flows.Card {
	base := map[string]string{
		"amount": "100000.00", "ref": "407312200456", "date": "2024-03-13", "counterparty": "chitra.n@okaxis",
		"sms":          "Money Received - INR 1,00,000.00 in your HDFC Bank A/c xx3344 on 13-03-24 from VPA chitra.n@okaxis (UPI 407312200456)",
		"receipt_name": "Chitra  Narayanan", "receipt_address": "12 Park Street, Kolkata 700016", "pan": "abcde1234f",
	}
	for k, v := range fields {
		if v == "" {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return flows.Card{ID: "D-17", Flow: "donation", Stage: "ready", Fields: base}
}

// pdfText returns the PDF's content streams, inflated: the text drawn on
// the page appears there as (string) Tj.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	var out strings.Builder
	rest := pdf
	for {
		i := bytes.Index(rest, []byte("stream\n"))
		if i < 0 {
			break
		}
		rest = rest[i+len("stream\n"):]
		j := bytes.Index(rest, []byte("endstream"))
		if j < 0 {
			t.Fatal("a stream without endstream")
		}
		data := rest[:j]
		rest = rest[j+len("endstream"):]
		zr, err := zlib.NewReader(bytes.NewReader(data))
		if err != nil {
			out.Write(data) // not compressed
			continue
		}
		b, err := io.ReadAll(zr)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("inflate: %v", err)
		}
		out.Write(b)
	}
	return out.String()
}

func TestReceiptPDFSaysEverything(t *testing.T) {
	issued := time.Date(2026, 4, 2, 15, 30, 0, 0, time.UTC)
	r, err := flows.NewReceipt(donationCard(nil), testOrg, "2023-24/0007", issued)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WritePDF(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", buf.Bytes()[:20])
	}
	text := pdfText(t, buf.Bytes())
	for _, want := range []string{
		"(Delhi Relief Collective)", "(B-4 Okhla Phase 2, New Delhi 110020)", "(Reg. No. DL/2020/0042)",
		"(80G: AAATD1234EF20214 dated 1 June 2021)", "(DONATION RECEIPT)",
		"(Receipt No.)", "(2023-24/0007)", "(2 April 2026)",
		"(Chitra Narayanan)", "(12 Park Street, Kolkata 700016)", "(ABCDE1234F)",
		"(Rs. 1,00,000.00)", "(Rupees One Lakh Only)", "(UPI)", "(407312200456)", "(13 March 2024)",
		"D-17",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the receipt does not say %s", want)
		}
	}
	if t.Failed() {
		t.Logf("content:\n%s", text)
	}
	var again bytes.Buffer
	if err := r.WritePDF(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("the same receipt drew two different files")
	}
}

func TestNewReceiptRefusesWhatWouldPrintWrong(t *testing.T) {
	now := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		fields map[string]string
		org    flows.Org
		want   []string // fields to correct
		msg    string
	}{
		{"no group name", nil, flows.Org{}, nil, "SEWA_ORG_NAME"},
		{"name in Devanagari", map[string]string{"receipt_name": "चित्रा नारायणन"}, testOrg, []string{"receipt_name"}, "English letters"},
		{"no address", map[string]string{"receipt_address": ""}, testOrg, []string{"receipt_address"}, "postal address"},
		{"bad PAN", map[string]string{"pan": "ABCDE12345"}, testOrg, []string{"pan"}, "PAN"},
		{"no amount", map[string]string{"amount": ""}, testOrg, []string{"amount"}, "amount"},
		{"several", map[string]string{"receipt_name": "", "pan": ""}, testOrg, []string{"receipt_name", "pan"}, "donor name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flows.NewReceipt(donationCard(tc.fields), tc.org, "2026-27/0001", now)
			var ps flows.ReceiptProblems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want ReceiptProblems", err)
			}
			if !slices.Equal(ps.Fields(), tc.want) {
				t.Errorf("fields to correct = %v, want %v", ps.Fields(), tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestFinancialYearBoundary(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		day  time.Time
		want string
	}{
		{time.Date(2027, 3, 31, 23, 59, 0, 0, ist), "2026-27"},
		{time.Date(2027, 4, 1, 0, 0, 0, 0, ist), "2027-28"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, ist), "2025-26"},
		{time.Date(2026, 12, 31, 0, 0, 0, 0, ist), "2026-27"},
		{time.Date(2099, 4, 1, 0, 0, 0, 0, ist), "2099-00"},
	}
	for _, tc := range tests {
		if got := flows.FinancialYear(tc.day); got != tc.want {
			t.Errorf("FinancialYear(%s) = %s, want %s", tc.day.Format(time.DateOnly), got, tc.want)
		}
	}
	issued := time.Date(2027, 4, 2, 10, 0, 0, 0, ist)
	for date, want := range map[string]string{"2027-03-31": "2026-27", "2027-04-01": "2027-28", "": "2027-28", "garbage": "2027-28"} {
		if got := flows.ReceiptFY(map[string]string{"date": date}, issued); got != want {
			t.Errorf("donation of %q receipted on 2 April 2027: year %s, want %s", date, got, want)
		}
	}
	if got := flows.ReceiptNumber("2026-27", 1); got != "2026-27/0001" {
		t.Errorf("ReceiptNumber = %s", got)
	}
	if got := flows.ReceiptNumber("2026-27", 12345); got != "2026-27/12345" {
		t.Errorf("ReceiptNumber = %s", got)
	}
}

func TestFormatRupees(t *testing.T) {
	for in, want := range map[string]string{
		"750.00": "₹750.00", "1100.00": "₹1,100.00", "100000.00": "₹1,00,000.00", "12345678.50": "₹1,23,45,678.50",
		"0.50": "₹0.50", "99": "₹99", "abc": "abc", "": "",
	} {
		if got := flows.FormatRupees(in); got != want {
			t.Errorf("FormatRupees(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPaymentMode(t *testing.T) {
	tests := []struct{ sms, want string }{
		{"Dear SBI UPI User, ur A/cX2209 credited by Rs750 on 12Mar24 by  (Ref no 407211893302)", "UPI"},
		{"Dear Customer, INR 3,000.00 credited to your A/c XX6655 on 14-03-2024 via NEFT from GAURAV MISHRA. UTR: SBIN424074001122 -PNB", "NEFT"},
		{"Rs 5000 credited to A/c XX12 by IMPS Ref 412345678901", "IMPS"},
		{"INR 2,00,000 credited to a/c XX12 RTGS UTR HDFCR52024031500001", "RTGS"},
		{"Cheque No. 778812 for Rs.5,000.00 has been credited to A/c XX12", "Cheque"},
		{"Update! INR 2,500.00 deposited in HDFC Bank A/c XX3344 on 16-MAR-24 for CASH DEPOSIT-ANDHERI EAST BRANCH.", "Cash"},
		{"Your a/c XX12 is credited by Rs 500 on 02-04-26", "Bank transfer"},
	}
	for _, tc := range tests {
		if got := flows.PaymentMode(tc.sms); got != tc.want {
			t.Errorf("PaymentMode(%.40q) = %s, want %s", tc.sms, got, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for s, want := range map[string]bool{
		"Chitra Narayanan": true, "José Müller": true, "12, Park St.\nKolkata": true, "“quoted” – dash €": true,
		"चित्रा": false, "Rs ₹500": false, "bell\a": false,
	} {
		if got := flows.Printable(s); got != want {
			t.Errorf("Printable(%q) = %v, want %v", s, got, want)
		}
	}
}

// BenchmarkReceiptPDF draws one receipt in memory.
func BenchmarkReceiptPDF(b *testing.B) {
	r, err := flows.NewReceipt(donationCard(nil), testOrg, "2026-27/0001", time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := r.WritePDF(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/pdf")
}
