package flows

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
)

// Org is the group as its receipts name it, from configuration.
type Org struct {
	Name         string `json:"name"`
	Address      string `json:"address"`
	Registration string `json:"registration"` // registration and 80G details, one or more lines
}

// Receipt is what one numbered donation receipt says. It is built from a
// donation card and the group's configuration, stored as JSON with the
// receipt's number, and drawn as a PDF: the same Receipt always draws the
// same PDF.
type Receipt struct {
	Number       string `json:"number"` // "2026-27/0001"
	Date         string `json:"date"`   // issued, YYYY-MM-DD
	Org          Org    `json:"org"`
	DonorName    string `json:"donor_name"`
	DonorAddress string `json:"donor_address"`
	PAN          string `json:"pan"`
	Amount       string `json:"amount"` // "1100.00"
	AmountWords  string `json:"amount_words"`
	Mode         string `json:"mode"`      // UPI, NEFT, IMPS, RTGS, Cheque, Cash, Bank transfer
	Reference    string `json:"reference"` // the bank's reference, when the SMS had one
	Received     string `json:"received"`  // the day the money came, YYYY-MM-DD
	Card         string `json:"card"`
}

// ReceiptProblem is one reason a card cannot have its receipt yet. Field is
// the card field to correct, or "" when the group's configuration is at
// fault.
type ReceiptProblem struct {
	Field string
	Msg   string
}

// ReceiptProblems is the error NewReceipt returns: everything to correct.
type ReceiptProblems []ReceiptProblem

func (ps ReceiptProblems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Msg
	}
	return strings.Join(msgs, "; ")
}

// Fields lists the card fields to correct, without repeats.
func (ps ReceiptProblems) Fields() []string {
	var out []string
	for _, p := range ps {
		if p.Field != "" && !slices.Contains(out, p.Field) {
			out = append(out, p.Field)
		}
	}
	return out
}

// Card fields a receipt is made from: the SMS's, then the collect stage's.
const (
	FieldAmount         = "amount"
	FieldRef            = "ref"
	FieldDate           = "date"
	FieldSMS            = "sms"
	FieldMode           = "mode"
	FieldReceiptName    = "receipt_name"
	FieldReceiptAddress = "receipt_address"
	FieldPAN            = "pan"
)

// NewReceipt builds receipt number for a donation card, issued at issued
// (already in the group's time zone). It refuses, with every reason at once,
// a card or configuration that would print a wrong receipt: no group name,
// no donor name, address or valid PAN, an amount it cannot spell, or text
// the receipt's font cannot print (it has Latin letters only; names go as on
// the PAN card).
func NewReceipt(card Card, org Org, number string, issued time.Time) (Receipt, error) {
	f := card.Fields
	r := Receipt{
		Number:       number,
		Date:         issued.Format(time.DateOnly),
		Org:          trimOrg(org),
		DonorName:    strings.Join(strings.Fields(f[FieldReceiptName]), " "),
		DonorAddress: strings.TrimSpace(f[FieldReceiptAddress]),
		Amount:       f[FieldAmount],
		Mode:         f[FieldMode],
		Reference:    f[FieldRef],
		Received:     f[FieldDate],
		Card:         card.ID,
	}
	if r.Mode == "" {
		r.Mode = PaymentMode(f[FieldSMS])
	}
	var ps ReceiptProblems
	if r.Org.Name == "" {
		ps = append(ps, ReceiptProblem{Msg: "the group's name for receipts is not configured (SEWA_ORG_NAME)"})
	}
	for _, s := range []struct{ what, v string }{{"SEWA_ORG_NAME", r.Org.Name}, {"SEWA_ORG_ADDRESS", r.Org.Address}, {"SEWA_ORG_80G", r.Org.Registration}} {
		if !Printable(s.v) {
			ps = append(ps, ReceiptProblem{Msg: s.what + " has letters the receipt cannot print; write it in English letters"})
		}
	}
	check := func(field, v, what string) {
		switch {
		case v == "":
			ps = append(ps, ReceiptProblem{Field: field, Msg: "no " + what})
		case !Printable(v):
			ps = append(ps, ReceiptProblem{Field: field, Msg: "the " + what + " must be in English letters (as on the PAN card)"})
		}
	}
	check(FieldReceiptName, r.DonorName, "donor name")
	check(FieldReceiptAddress, r.DonorAddress, "postal address")
	if p, ok := ValidPAN(strings.Join(strings.Fields(f[FieldPAN]), "")); ok {
		r.PAN = p
	} else {
		ps = append(ps, ReceiptProblem{Field: FieldPAN, Msg: "no valid PAN"})
	}
	if words, err := AmountInWords(r.Amount); err == nil {
		r.AmountWords = words
	} else {
		ps = append(ps, ReceiptProblem{Field: FieldAmount, Msg: "no amount a receipt can state"})
	}
	if !Printable(r.Reference) {
		r.Reference = ""
	}
	if len(ps) > 0 {
		return Receipt{}, ps
	}
	return r, nil
}

func trimOrg(o Org) Org {
	return Org{Name: strings.TrimSpace(o.Name), Address: strings.TrimSpace(o.Address), Registration: strings.TrimSpace(o.Registration)}
}

// FinancialYear names the Indian financial year (April to March) of day t,
// as receipts number it: 31 March 2027 is in "2026-27", 1 April 2027 in
// "2027-28".
func FinancialYear(t time.Time) string {
	y := t.Year()
	if t.Month() < time.April {
		y--
	}
	return fmt.Sprintf("%d-%02d", y, (y+1)%100)
}

// ReceiptFY is the financial year a donation's receipt is numbered in: that
// of the day the money came (the SMS's date), because the donor claims the
// deduction in that year; issued when the SMS had no date.
func ReceiptFY(fields map[string]string, issued time.Time) string {
	if d, err := time.Parse(time.DateOnly, fields[FieldDate]); err == nil {
		return FinancialYear(d)
	}
	return FinancialYear(issued)
}

// ReceiptNumber writes the seq-th receipt of financial year fy: "2026-27/0001".
func ReceiptNumber(fy string, seq int) string { return fmt.Sprintf("%s/%04d", fy, seq) }

// PaymentMode names how money came from the words of its bank SMS: UPI,
// IMPS, NEFT, RTGS, Cheque, Cash, or Bank transfer when the SMS does not say.
func PaymentMode(sms string) string {
	low := " " + strings.ToLower(sms) + " "
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(low, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("upi", "vpa", "यूपीआई"):
		return "UPI"
	case has("imps", "आईएमपीएस"):
		return "IMPS"
	case has("neft", "एनईएफटी"):
		return "NEFT"
	case has("rtgs", "आरटीजीएस"):
		return "RTGS"
	case has("cheque", " chq", "clearing", " clg", "चेक"):
		return "Cheque"
	case has("cash", "नकद"):
		return "Cash"
	}
	return "Bank transfer"
}

// FormatRupees writes an amount like "100000.00" the Indian way for people
// to read: "₹1,00,000.00". Anything else comes back as it was.
func FormatRupees(amount string) string {
	g, ok := indianGrouping(amount)
	if !ok {
		return amount
	}
	return "₹" + g
}

// indianGrouping groups the rupees of "1234567.50" as 12,34,567.50.
func indianGrouping(amount string) (string, bool) {
	whole, frac, hasFrac := strings.Cut(strings.TrimSpace(amount), ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return "", false
	}
	var parts []string
	if len(whole) > 3 {
		head, tail := whole[:len(whole)-3], whole[len(whole)-3:]
		for len(head) > 2 {
			parts = append([]string{head[len(head)-2:]}, parts...)
			head = head[:len(head)-2]
		}
		parts = append([]string{head}, parts...)
		parts = append(parts, tail)
	} else {
		parts = []string{whole}
	}
	out := strings.Join(parts, ",")
	if hasFrac {
		out += "." + frac
	}
	return out, true
}

// Printable reports whether the receipt's font (Helvetica, code page 1252)
// can print every letter of s: English and most Western European letters,
// not Devanagari.
func Printable(s string) bool {
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
		case r < 0x20 || r == 0x7f:
			return false
		case r < 0x7f, r >= 0xa0 && r <= 0xff:
		case strings.ContainsRune("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ", r):
		default:
			return false
		}
	}
	return true
}

// WritePDF draws the receipt as an A4 PDF.
func (r Receipt) WritePDF(w io.Writer) error { return r.writePDF(w, true) }

func (r Receipt) writePDF(w io.Writer, compress bool) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(compress)
	issued, err := time.Parse(time.DateOnly, r.Date)
	if err != nil {
		return fmt.Errorf("receipt %s: date %q: %w", r.Number, r.Date, err)
	}
	// Fixed dates keep the file the same every time it is drawn.
	pdf.SetCreationDate(issued)
	pdf.SetModificationDate(issued)
	pdf.SetCatalogSort(true)
	pdf.SetCreator("Sewa", false)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.SetTitle(tr("Donation receipt "+r.Number), false)
	pdf.SetMargins(20, 20, 20)
	pdf.SetAutoPageBreak(true, 20)
	pdf.AddPage()

	pdf.SetFont("Helvetica", "B", 16)
	pdf.MultiCell(0, 8, tr(r.Org.Name), "", "C", false)
	pdf.SetFont("Helvetica", "", 10)
	for _, text := range []string{r.Org.Address, r.Org.Registration} {
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				pdf.MultiCell(0, 5, tr(line), "", "C", false)
			}
		}
	}
	pdf.Ln(3)
	y := pdf.GetY()
	pdf.Line(20, y, 190, y)
	pdf.Ln(5)
	pdf.SetFont("Helvetica", "B", 14)
	pdf.CellFormat(0, 10, "DONATION RECEIPT", "", 1, "C", false, 0, "")
	pdf.Ln(3)

	figures, _ := indianGrouping(r.Amount)
	rows := []struct{ label, value string }{
		{"Receipt No.", r.Number},
		{"Date", humanDate(r.Date)},
		{"Received from", r.DonorName},
		{"Address", r.DonorAddress},
		{"PAN", r.PAN},
		{"Amount", "Rs. " + figures},
		{"Amount in words", r.AmountWords},
		{"Mode", r.Mode},
		{"Reference", r.Reference},
		{"Date of donation", humanDate(r.Received)},
	}
	for _, row := range rows {
		if row.value == "" {
			row.value = "-"
		}
		pdf.SetFont("Helvetica", "B", 11)
		pdf.CellFormat(45, 7, row.label, "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 11)
		pdf.MultiCell(0, 7, tr(row.value), "", "L", false)
	}
	pdf.Ln(6)
	pdf.SetFont("Helvetica", "", 10)
	pdf.MultiCell(0, 5, tr("Received with thanks the above donation to "+r.Org.Name+"."), "", "L", false)
	pdf.Ln(18)
	pdf.CellFormat(0, 5, "Authorised signatory", "", 1, "R", false, 0, "")
	pdf.Ln(10)
	pdf.SetFont("Helvetica", "I", 8)
	pdf.MultiCell(0, 4, tr("Computer-generated receipt, "+r.Card+"."), "", "L", false)
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("receipt %s: %w", r.Number, err)
	}
	return nil
}

// humanDate writes 2026-04-02 as "2 April 2026"; anything else as it is.
func humanDate(d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	return t.Format("2 January 2006")
}
