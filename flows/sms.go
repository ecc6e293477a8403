package flows

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SMS is what a bank alert says about money moving.
type SMS struct {
	Kind         string  `json:"kind"`         // "credit", "debit" or "none"
	Amount       *string `json:"amount"`       // "1100.00": two decimals, no grouping
	Ref          *string `json:"ref"`          // UPI RRN / IMPS / NEFT UTR / RTGS / cheque no.
	AccountTail  *string `json:"account_tail"` // digits of the masked account: XX1234 -> "1234"
	Counterparty *string `json:"counterparty"` // payer VPA or name when present
	Date         *string `json:"date"`         // YYYY-MM-DD
	Bank         *string `json:"bank"`         // short stable name: "SBI", "HDFC", "ICICI", "Axis", ...
	Reason       string  `json:"-"`            // for kind "none"/"debit": a short human reason
}

// Kinds of SMS.
const (
	SMSCredit = "credit"
	SMSDebit  = "debit"
	SMSNone   = "none"
)

// maxSMSBytes caps the work done on one message: real alerts are well under
// 500 bytes, and a forwarded alert with a note still fits.
const maxSMSBytes = 2000

// Reasons, kept short: the bot shows them to volunteers.
const (
	reasonEmpty      = "the message is empty"
	reasonOTP        = "this is a one-time password"
	reasonFailed     = "the transaction failed"
	reasonPending    = "the transaction is still pending"
	reasonReversal   = "this is a refund or reversal of an earlier payment, not a new payment"
	reasonRequest    = "this is a request for money, not a payment"
	reasonFuture     = "this announces a future transaction, not one that happened"
	reasonPromo      = "this is a promotion or offer"
	reasonMandate    = "this is a mandate or autopay notice"
	reasonBill       = "this is a bill or payment reminder"
	reasonBalance    = "this is a balance alert"
	reasonSent       = "money was sent, not received"
	reasonCard       = "this is about a credit card, not money received in the account"
	reasonLoan       = "this is about a loan, not a payment from someone"
	reasonInterest   = "this is interest, cashback or a reward from the bank, not a payment from someone"
	reasonOwn        = "this is money moving between your own deposits or investments"
	reasonAck        = "this acknowledges a payment you made"
	reasonCheque     = "the cheque has not cleared yet"
	reasonNoAmount   = "no rupee amount was found"
	reasonNoEvidence = "it does not look like a bank alert: no account, reference or bank is named"
	reasonNoMoney    = "this does not say money was received or spent"
)

// ParseSMS reads a bank alert (possibly forwarded, with a note) and says
// whether money came in, went out, or neither. Only the first 2,000 bytes
// are read.
//
// A false donation is worse than a missed one, so it leans to "none": any
// word of money leaving makes a debit, a one-time password or a failed,
// reversed, requested or future payment is "none" whatever else the text
// says, and a credit must name an amount and at least one of an account,
// a reference or a bank. For "none" every field is nil and Reason says
// why; for "debit" Reason says so too.
func ParseSMS(text string) SMS {
	t := cleanSMSText(text)
	if strings.TrimSpace(t) == "" {
		return noneSMS(reasonEmpty)
	}
	low := asciiLower(t)
	if r := notATransaction(low); r != "" {
		return noneSMS(r)
	}
	switch smsDirection(low) {
	case SMSDebit:
		// "Ignore if paid" and "mandate created" mention paying without
		// any money having moved yet.
		if mandateSetupRe.MatchString(low) {
			return noneSMS(reasonMandate)
		}
		if billRe.MatchString(low) {
			return noneSMS(reasonBill)
		}
		s := extractSMS(t, low, SMSDebit)
		s.Reason = reasonSent
		return s
	case SMSCredit:
		if r := creditVeto(low); r != "" {
			return noneSMS(r)
		}
		s := extractSMS(t, low, SMSCredit)
		if s.Amount == nil || *s.Amount == "0.00" {
			return noneSMS(reasonNoAmount)
		}
		if s.AccountTail == nil && s.Ref == nil && s.Bank == nil {
			return noneSMS(reasonNoEvidence)
		}
		return s
	}
	return noneSMS(noDirectionReason(low))
}

func noneSMS(reason string) SMS { return SMS{Kind: SMSNone, Reason: reason} }

// extractSMS fills the fields of a message already known to be a debit or credit.
func extractSMS(t, low, kind string) SMS {
	s := SMS{Kind: kind}
	s.Amount = smsAmount(t, low)
	s.Ref = smsRef(t)
	s.AccountTail = smsAccountTail(t, low, kind)
	s.Counterparty = smsCounterparty(t, low, kind)
	s.Date = smsDate(t)
	s.Bank = smsBank(t, low)
	return s
}

// ---------------------------------------------------------------------------
// Cleaning

// cleanSMSText caps the input, repairs bad UTF-8, folds look-alike characters
// to ASCII and drops what a forwarder wrote before the alert.
func cleanSMSText(text string) string {
	if len(text) > maxSMSBytes {
		text = text[:maxSMSBytes]
	}
	text = strings.ToValidUTF8(text, " ")
	text = strings.Map(foldSMSRune, text)
	text = dropForwardPreamble(text)
	return squeezeSpaces(text)
}

// foldSMSRune maps characters that banks and phones use in place of plain
// ASCII (Devanagari digits, "styled" mathematical letters in RCS alerts,
// full-width forms, odd spaces and dashes) so one set of patterns fits all.
// It returns -1 to drop invisible characters.
func foldSMSRune(r rune) rune {
	switch {
	case r >= '०' && r <= '९':
		return '0' + (r - '०')
	case r >= 0x1D400 && r <= 0x1D6A3: // mathematical alphanumeric letters
		off := (r - 0x1D400) % 52
		if off < 26 {
			return 'A' + off
		}
		return 'a' + off - 26
	case r >= 0x1D7CE && r <= 0x1D7FF: // mathematical digits
		return '0' + (r-0x1D7CE)%10
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		return r - 0xFF01 + '!'
	case r == '\r':
		return '\n'
	case r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff' || r == '\u00ad':
		return -1
	case r == '\u2010' || r == '\u2011' || r == '\u2012' || r == '\u2013' || r == '\u2014' || r == '\u2212':
		return '-'
	case r == '\u2018' || r == '\u2019':
		return '\''
	case r == '।' || r == '॥': // Devanagari full stops end sentences like "."
		return '.'
	case r == '\n' || r == '\t':
		return r
	case unicode.IsSpace(r), unicode.IsControl(r):
		return ' '
	}
	return r
}

var (
	forwardMarkRe = regexp.MustCompile(`(?i)\b(?:fwd|fw)\s*:|-+\s*forwarded message\s*-+|forwarded message\s*:`)
	chatStampRe   = regexp.MustCompile(`^\s*\[[^\]\n]{1,40}\]`)
)

// dropForwardPreamble keeps only what follows the last "Fwd:" marker, and
// drops a leading chat time stamp ("[12/03/24, 10:15]") that would otherwise
// be read as the transaction date.
func dropForwardPreamble(t string) string {
	if locs := forwardMarkRe.FindAllStringIndex(t, -1); locs != nil {
		if rest := t[locs[len(locs)-1][1]:]; strings.TrimSpace(rest) != "" {
			t = rest
		}
	}
	if loc := chatStampRe.FindStringIndex(t); loc != nil {
		t = t[loc[1]:]
	}
	return t
}

// squeezeSpaces collapses runs of blanks (keeping line breaks, which some
// banks use as field separators) and trims the ends.
func squeezeSpaces(t string) string {
	var b strings.Builder
	b.Grow(len(t))
	blank := false
	for _, r := range t {
		if r == ' ' {
			blank = true
			continue
		}
		if r == '\n' {
			blank = false
			b.WriteByte('\n')
			continue
		}
		if blank && b.Len() > 0 {
			b.WriteByte(' ')
		}
		blank = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// asciiLower lower-cases ASCII letters only, so byte offsets found in the
// result are valid in the original (strings.ToLower may change lengths).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// Kind

var (
	// otpWordRe finds a mention of a one-time code.
	otpWordRe = regexp.MustCompile(`\botp\b|one[- ]?time[- ]pass(?:word|code)|\b(?:verification|security|secret|authentication|auth)\s+code\b|\bpasscode\b|ओटीपी|वन टाइम पासवर्ड|सत्यापन कोड`)
	// otpCodeRe finds a code actually being handed over.
	otpCodeRe = regexp.MustCompile(`(?:\botp\b|code|password|ओटीपी)\W{0,4}(?:is\W{0,3}|:\W{0,2}|है\W{0,2})?\d{4,8}\b|\b\d{4,8}\W{0,3}(?:is|as|हैं?|आपका)\W`)
	// otpWarningRe marks a sentence that only warns about sharing codes.
	otpWarningRe = regexp.MustCompile(`shar|never|not|don't|dont|disclose|reveal|\bask|fraud|beware|anyone|साझा|न करें`)

	failedRe   = regexp.MustCompile(`\bfail(?:ed|ure|s)?\b|\bdeclined?\b|\bunsuccessful\b|\bnot (?:been )?successful\b|could not be (?:processed|completed)|\brejected\b|insufficient (?:funds|balance|bal)|\bcancell?ed\b|\btimed? ?out\b|\bnot (?:been )?(?:credited|received|processed)\b|विफल|असफल|अस्वीकृत|अस्वीकार|रद्द`)
	pendingRe  = regexp.MustCompile(`\bpending\b|\bon hold\b|\bunder process|लंबित`)
	reversalRe = regexp.MustCompile(`\brevers(?:ed|al|e)\b|\brev\b|\brefund(?:ed|s)?\b|\bcharge ?back\b|\bcredited back\b|\badded back\b|\breturned\b|\bbounced?\b|\bdishono(?:u)?red\b|वापस|रिफंड|रिवर्स`)
	requestRe  = regexp.MustCompile(`\brequest(?:ed|s|ing)?\b|\bcollect\b|\bapprove\b|अनुरोध`)
	futureRe   = regexp.MustCompile(`\bwill be (?:auto[- ]?)?(?:debited|credited|deducted|charged|processed|reversed|refunded|presented|paid|transferred|sent|added)\b|\bto be (?:debited|credited|deducted)\b|\bshall be (?:debited|credited)\b|\bscheduled\b|\bupcoming\b|जाएगा|जाएगी|जाएंगे|जायेगा|जायेगी|जायेंगे`)
	promoRe    = regexp.MustCompile(`pre[- ]?approved|apply (?:now|today|here)|\boffers?\b|congrat|you(?:'ve| have) won\b|\bwin\b|\blucky\b|\bvoucher|\bcoupon|\beligible\b|get (?:upto|up to)\b|limited period|\bhurry\b|\bclick\b|\bclaim\b|\bkyc\b|ऑफर|बधाई|पूर्व[- ]?स्वीकृत|आवेदन करें`)
	mandateRe  = regexp.MustCompile(`mandate|\bauto ?-?pay\b|\bauto[- ]debit\b|standing instruction|\bnach\b|\becs\b|\bumrn\b|\bumn\b|\bsubscription\b|\bsi\b`)
	// mandateSetupRe marks the registration of a mandate, which may mention
	// a token debit but is not a payment to anyone.
	mandateSetupRe = regexp.MustCompile(`(?:mandate|auto ?-?pay|standing instruction)[^.\n]{0,60}(?:created|registered|activated|set ?up|successfully)|(?:created|registered|activated|set ?up)[^.\n]{0,60}(?:mandate|auto ?-?pay)`)
	billRe         = regexp.MustCompile(`\bdue (?:on|by|date|amount|amt)\b|\b(?:is|are|was|falls) due\b|\b(?:payment|total|amount|amt|min(?:imum)?\.? (?:amount|amt)) due\b|\boverdue\b|\breminder\b|\bremind|ignore if (?:already )?paid|\bbill (?:alert|generated|is generated)\b|\bnew bill\b|देय तिथि|बकाया`)
	balanceRe      = regexp.MustCompile(`\bbal\b|balance|शेष|बैलेंस`)
	interestWordRe = regexp.MustCompile(`\binterest\b|ब्याज`)
)

// notATransaction returns a reason when the message is of a kind that is
// never a completed payment, whatever money words it also contains.
func notATransaction(low string) string {
	switch {
	case isOTP(low):
		return reasonOTP
	case failedRe.MatchString(low):
		return reasonFailed
	case reversalRe.MatchString(low):
		return reasonReversal
	case pendingRe.MatchString(low):
		return reasonPending
	case requestRe.MatchString(low):
		return reasonRequest
	case futureRe.MatchString(low):
		return reasonFuture
	case promoRe.MatchString(low):
		return reasonPromo
	}
	return ""
}

// isOTP tells a message that hands over a code from an alert that merely
// warns "never share your OTP".
func isOTP(low string) bool {
	if !otpWordRe.MatchString(low) {
		return false
	}
	for _, sentence := range splitSentences(low) {
		if !otpWordRe.MatchString(sentence) {
			continue
		}
		if otpCodeRe.MatchString(sentence) || !otpWarningRe.MatchString(sentence) {
			return true
		}
	}
	return false
}

// splitSentences splits on sentence ends but not on decimal points.
func splitSentences(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		end := c == '\n' || c == '!' || c == '?' || c == '|' || c == ';'
		if c == '.' && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\n') {
			end = true
		}
		if end {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// A cue is a phrase that says which way money moved; except lists what may
// follow it to cancel that meaning ("paid on your deposit" is not a debit).
type smsCue struct {
	re     *regexp.Regexp
	except *regexp.Regexp
}

var (
	notOutRe   = regexp.MustCompile(`^\s*(?:by\b|you\b|(?:to|in|into|on)\s+your?\b|for (?:clearing|collection)\b)`)
	notYoursRe = regexp.MustCompile(`^\s*your\b`)
	notCard    = regexp.MustCompile(`^\s*(?:card|कार्ड)`)

	debitCues = []smsCue{
		{re: regexp.MustCompile(`\bdebited\b`)},
		{re: regexp.MustCompile(`\bdebit\b\s*(?:of|for|by|with|:|-)?\s*(?:rs|inr|₹)`)},
		{re: regexp.MustCompile(`\bdr\b\.?\s*(?:rs|inr|₹)|(?:\brs|\binr|₹)\.?\s*[\d,]+(?:\.\d+)?\s*dr\b`)},
		{re: regexp.MustCompile(`\b(?:spent|withdrawn|withdrawal|withdrew|wdl|deducted|purchased?|charged)\b|\bw/d\b|\bdone at\b`)},
		{re: regexp.MustCompile(`\bsent\b`), except: notOutRe},
		{re: regexp.MustCompile(`\bpaid\b`), except: notOutRe},
		{re: regexp.MustCompile(`\btransferred from (?:your )?a/c`)},
		{re: regexp.MustCompile(`\btrf to\b|\btransfer(?:red)? to\b`), except: notYoursRe},
		{re: regexp.MustCompile(`\bfrom your (?:[a-z]+ ){0,3}?(?:a/c|ac|acct|account)\b`)},
		{re: regexp.MustCompile(`credited to (?:the )?beneficiary|beneficiary (?:a/c |account )?(?:is |has been )?credited`)},
		{re: regexp.MustCompile(`नामे|निकाले|निकासी|भेजे|कटौती|काटे|भुगतान किया`)},
		{re: regexp.MustCompile(`डेबिट`), except: notCard},
	}
	creditCues = []smsCue{
		{re: regexp.MustCompile(`\bcredited\b|\breceived\b|\bdeposited\b|\bdeposit of\b|\bcash deposit\b`)},
		{re: regexp.MustCompile(`\bcredit\b\s*(?:of|for|by|with|:|-)?\s*(?:rs|inr|₹)|\bcr\b\.?\s*(?:rs|inr|₹)`)},
		{re: regexp.MustCompile(`जमा|प्राप्त`)},
		{re: regexp.MustCompile(`क्रेडिट`), except: notCard},
	}
)

// smsDirection says which way money moved. Any sign of money leaving wins
// over signs of money arriving: "A/c X debited ... and credited to VPA y"
// credits someone else's account, and a debit must never look like a credit.
func smsDirection(low string) string {
	if anyCue(low, debitCues) {
		return SMSDebit
	}
	if anyCue(low, creditCues) {
		return SMSCredit
	}
	return ""
}

func anyCue(low string, cues []smsCue) bool {
	for _, c := range cues {
		for _, loc := range c.re.FindAllStringIndex(low, -1) {
			if c.except == nil || !c.except.MatchString(low[loc[1]:]) {
				return true
			}
		}
	}
	return false
}

var (
	cardVetoRe     = regexp.MustCompile(`credit ?card|\bsbi ?card\b|\bbobcard\b|क्रेडिट कार्ड`)
	loanVetoRe     = regexp.MustCompile(`\bloans?\b|\bemi\b|ऋण|लोन`)
	interestVetoRe = regexp.MustCompile(`\binterest\b|cash ?back|\brewards?\b|\bbonus\b|ब्याज|कैशबैक`)
	ownVetoRe      = regexp.MustCompile(`fixed deposit|term deposit|recurring deposit|\bfd\b|\bmatur|\bsweep|self[- ]?transfer|own account|\bsip\b|mutual fund|redemption|\bfolio\b|penny|account (?:verification|validation)`)
	ackVetoRe      = regexp.MustCompile(`(?:we have|we've|has been) received your|received your|thank(?:s| you) for (?:your|the)? ?payment|payment (?:of [^\n]{1,30}? )?(?:has been |is )?received (?:on|towards|for|against)`)
	chequeRe       = regexp.MustCompile(`\b(?:cheque|chq)\b|चेक`)
	chequeFooterRe = regexp.MustCompile(`cheque deposits? (?:in|into) [^.\n]{0,20}subject to clearing`)
	chequeDoneRe   = regexp.MustCompile(`\bcleared\b|\bcredited\b|\breali[sz]ed\b|जमा`)
)

// creditVeto returns a reason when money did arrive but it is not a payment
// from a person: the group only counts those as received.
func creditVeto(low string) string {
	switch {
	case cardVetoRe.MatchString(low):
		return reasonCard
	case loanVetoRe.MatchString(low):
		return reasonLoan
	case interestVetoRe.MatchString(low):
		return reasonInterest
	case ownVetoRe.MatchString(low):
		return reasonOwn
	case ackVetoRe.MatchString(low):
		return reasonAck
	case mandateRe.MatchString(low):
		return reasonMandate
	case billRe.MatchString(low):
		return reasonBill
	}
	withoutFooter := chequeFooterRe.ReplaceAllString(low, "")
	if chequeRe.MatchString(withoutFooter) && !chequeDoneRe.MatchString(withoutFooter) {
		return reasonCheque
	}
	return ""
}

func noDirectionReason(low string) string {
	switch {
	case mandateRe.MatchString(low):
		return reasonMandate
	case billRe.MatchString(low):
		return reasonBill
	case interestWordRe.MatchString(low):
		return reasonInterest
	case balanceRe.MatchString(low):
		return reasonBalance
	}
	return reasonNoMoney
}

// ---------------------------------------------------------------------------
// Amount

var (
	// currencyAmountRe: "Rs.750", "INR 1,100.00", "₹41", "Rs. INR 5,000", "रु 500".
	currencyAmountRe = regexp.MustCompile(`(?i)(?:\b(?:rs|inr)|₹|रु|रू)\.?\s*:?\s*(?:(?:rs|inr)\b\.?\s*)?(\d[\d,]*(?:\.\d+)?)`)
	// rupeesAfterRe: "500 रुपये", "500 rupees".
	rupeesAfterRe = regexp.MustCompile(`(?i)(\d[\d,]*(?:\.\d+)?)\s*(?:/-\s*)?(?:रुपये|रुपए|rupees\b)`)
	// verbAmountRe: SBI and others drop the currency: "debited by 90.0".
	verbAmountRe = regexp.MustCompile(`(?i)\b(?:credited|debited|deposited|credit|debit)\s+(?:by|with|for|of)?\s*(\d[\d,]*(?:\.\d+)?)\b`)
	// amountContextRe marks an amount that is a balance or limit, not the
	// money that moved.
	amountContextRe = regexp.MustCompile(`\bbal|balance|limit|\blmt|\bavl|\bavbl|\bavail|outstanding|\bdue\b|शेष`)
)

// smsAmount picks the first amount that is not a balance or a limit.
func smsAmount(t, low string) *string {
	type found struct{ start, end, vs, ve int }
	var all []found
	for _, re := range []*regexp.Regexp{currencyAmountRe, rupeesAfterRe, verbAmountRe} {
		for _, m := range re.FindAllStringSubmatchIndex(t, -1) {
			all = append(all, found{m[0], m[1], m[2], m[3]})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].start < all[j].start })
	prevEnd := 0
	for _, f := range all {
		from := max(f.start-28, prevEnd, 0)
		if from > f.start {
			from = f.start
		}
		prevEnd = max(prevEnd, f.end)
		if amountContextRe.MatchString(low[from:f.start]) {
			continue
		}
		if a, ok := normaliseRupees(t[f.vs:f.ve]); ok {
			return &a
		}
	}
	return nil
}

// normaliseRupees turns "1,00,000" or "90.0" into "100000.00" / "90.00".
// It refuses what it cannot read for sure: bad grouping, sub-paise digits,
// absurd lengths.
func normaliseRupees(raw string) (string, bool) {
	raw = strings.TrimRight(raw, ",.")
	whole, frac, _ := strings.Cut(raw, ".")
	if strings.Contains(frac, ",") || strings.Contains(frac, ".") {
		return "", false
	}
	if strings.Contains(whole, ",") {
		// "1,00,00" could be a typo for a lakh or a decimal comma: refuse
		// rather than guess.
		if !validGrouping(whole) {
			return "", false
		}
		whole = strings.ReplaceAll(whole, ",", "")
	}
	if whole == "" || !smsDigitsOnly(whole) || !smsDigitsOnly(frac) {
		return "", false
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	if len(whole) > 13 {
		return "", false
	}
	switch {
	case len(frac) < 2:
		frac += strings.Repeat("0", 2-len(frac))
	case len(frac) > 2:
		if strings.Trim(frac[2:], "0") != "" {
			return "", false
		}
		frac = frac[:2]
	}
	return whole + "." + frac, true
}

// validGrouping accepts Indian (1,00,000) and Western (100,000) grouping.
func validGrouping(s string) bool {
	parts := strings.Split(s, ",")
	if len(parts) < 2 {
		return true
	}
	if len(parts[0]) < 1 || len(parts[0]) > 3 || len(parts[len(parts)-1]) != 3 {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		if len(p) != 2 && len(p) != 3 {
			return false
		}
	}
	return true
}

func smsDigitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Reference

// refToken is a reference number: letters allowed, but at least one digit
// and six characters, so words and short counters are not taken.
const refToken = `([a-z0-9]*\d[a-z0-9]{5,29})\b`

var refRes = []*regexp.Regexp{
	// "UPI 407312200456", "UPI Ref No 407515501234", "IMPS Ref no 408016673344", "UPI:4074...".
	regexp.MustCompile(`(?i)\b(?:upi|imps|neft|rtgs)\s*(?:txn\s*)?(?:ref(?:erence)?\.?\s*(?:no|num|number|id)?\.?)?\s*[:\-]?\s*` + refToken),
	// "Ref no 4072...", "Refno 4079...", "RRN: 5100...", "UTR: SBIN4240...", "Txn ID: 5609...".
	regexp.MustCompile(`(?i)\b(?:(?:upi|imps|neft|rtgs|txn|transaction)\s*)?(?:ref(?:erence)?|rrn|utr|(?:txn|transaction)\s*(?:id|no|number))\.?\s*(?:no|num|number|id)?\.?\s*(?:is\s*)?[:\-#]?\s*` + refToken),
	// "UPI/P2A/407420053311/NAME", "Info: UPI/CREDIT/1035...", "IMPS/FDRL/5280...".
	regexp.MustCompile(`(?i)\b(?:upi|imps|neft|rtgs)/(?:[a-z0-9]+/){0,3}?([a-z]{0,6}\d{9,22})\b`),
	// "NEFT-FDRLM4175907234-NAME".
	regexp.MustCompile(`(?i)\bneft-([a-z0-9]*\d[a-z0-9]{7,25})\b`),
	// "Cheque No. 778812".
	regexp.MustCompile(`(?i)\b(?:cheque|chq)\s*(?:no|number)?\.?\s*[:\-#]?\s*(\d{6})\b`),
	// Hindi: "संदर्भ संख्या 4072...".
	regexp.MustCompile(`(?i)संदर्भ\s*(?:संख्या|सं\.?)?\s*[:\-]?\s*` + refToken),
}

// hdfcNEFTRe reads "NEFT Cr-IFSC0000000-REMITTER NAME-BENEFICIARY-UTR".
var hdfcNEFTRe = regexp.MustCompile(`(?i)\bneft cr-[a-z]{4}0[a-z0-9]{6}-([^-\n]+)-(?:[^-\n]*-)?([a-z0-9]*\d[a-z0-9]{7,25})\b`)

func smsRef(t string) *string {
	for _, re := range refRes {
		if m := re.FindStringSubmatch(t); m != nil {
			return smsPtr(strings.ToUpper(m[1]))
		}
	}
	if m := hdfcNEFTRe.FindStringSubmatch(t); m != nil {
		return smsPtr(strings.ToUpper(m[2]))
	}
	return nil
}

// ---------------------------------------------------------------------------
// Account

var (
	// acctLabelRe: "A/cX2209", "A/c no. XX6120", "Acct XX518", "account no.
	// ending with 5678", "A/c ...5494", "Account 20XXXXX1234", "A/c no. 1234".
	acctLabelRe = regexp.MustCompile(`(?i)(?:\b(?:a/c|acct|account|acc|ac)|खाते|खाता|ए/सी)\.?\s*(?:no\.?|number|num|संख्या|सं\.)?\s*[:.\-]?\s*(?:ending(?:\s+(?:with|in))?\s*)?(\d{0,6})([x*•.n]*)(\d{3,18})`)
	// bareMaskRe: "XX1234", "**1234", "XXXXXXXX7740" with no label.
	bareMaskRe = regexp.MustCompile(`(?i)(?:^|[^a-z0-9/])(\d{0,6})([x*•]{2,}|\.{3,})(\d{3,8})(?:[^0-9]|$)`)
	// cardMaskRe: "Card x4321", "Card no. XX0818" (one mask letter is enough here).
	cardMaskRe = regexp.MustCompile(`(?i)\bcard\s*(?:no\.?\s*)?[x*]+(\d{3,8})\b`)
	// endingRe: "Card ending 4321", "ending with 5667".
	endingRe = regexp.MustCompile(`(?i)\bending(?:\s+(?:with|in))?\s*[x*]*(\d{3,8})\b`)

	notOursRe  = regexp.MustCompile(`mobile|\bmob\b|phone|sender|remitter|beneficiary|payee|linked to|ifsc`)
	cardCtxRe  = regexp.MustCompile(`card|कार्ड`)
	fromLastRe = regexp.MustCompile(`\b(?:from|by)\s*$`)
)

type acctCandidate struct {
	start, labelStart int
	tail              string
}

// smsAccountTail finds the masked account that is ours: the first one that
// is not a phone number, a sender's account or (for a credit) the account
// the money came from. A card tail is used only when no account is named.
func smsAccountTail(t, low, kind string) *string {
	var cands []acctCandidate
	for _, m := range acctLabelRe.FindAllStringSubmatchIndex(t, -1) {
		cands = append(cands, acctCandidate{m[2], m[0], tailDigits(t[m[2]:m[3]], t[m[4]:m[5]], t[m[6]:m[7]])})
	}
	for _, m := range bareMaskRe.FindAllStringSubmatchIndex(t, -1) {
		cands = append(cands, acctCandidate{m[2], m[2], tailDigits(t[m[2]:m[3]], t[m[4]:m[5]], t[m[6]:m[7]])})
	}
	for _, re := range []*regexp.Regexp{endingRe, cardMaskRe} {
		for _, m := range re.FindAllStringSubmatchIndex(t, -1) {
			cands = append(cands, acctCandidate{m[2], m[0], t[m[2]:m[3]]})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].labelStart < cands[j].labelStart })

	var card *string
	seen := map[int]bool{} // a labelled and a bare match of the same digits
	for _, c := range cands {
		if seen[c.start] {
			continue
		}
		seen[c.start] = true
		before := low[max(0, c.labelStart-24):c.labelStart]
		if notOursRe.MatchString(before) {
			continue
		}
		if kind == SMSCredit && fromLastRe.MatchString(before) {
			continue
		}
		if cardCtxRe.MatchString(before) || cardCtxRe.MatchString(low[c.labelStart:c.start]) {
			if card == nil {
				card = smsPtr(c.tail)
			}
			continue
		}
		return smsPtr(c.tail)
	}
	return card
}

// tailDigits keeps the digits after the mask; an unmasked number is cut to
// its last four so a full account number is never echoed back.
func tailDigits(prefix, mask, digits string) string {
	if strings.Trim(mask, ".") == "" && !strings.Contains(mask, "...") {
		all := prefix + digits
		if len(all) > 4 {
			return all[len(all)-4:]
		}
		return all
	}
	return digits
}

// ---------------------------------------------------------------------------
// Counterparty

var (
	vpaRe = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._-]{1,63}@[A-Za-z][A-Za-z0-9]{1,31}`)
	// slashInfoRe: "UPI/P2A/407420053311/GOPAL KRIS", "IMPS/PUNB/1234.../ METRO TRADERS".
	slashInfoRe = regexp.MustCompile(`(?i)\b(?:upi|imps|neft|rtgs)/(?:[a-z0-9]+/){0,3}?[a-z]{0,6}\d{9,22}/\s*`)
	neftInfoRe  = regexp.MustCompile(`(?i)\bneft-[a-z0-9]*\d[a-z0-9]{7,25}-`)
	// mobileDashRe: "by a/c linked to mobile 8XXXXXX912-NANDINI SEN".
	mobileDashRe = regexp.MustCompile(`(?i)\bmobile\s*(?:no\.?\s*)?[0-9x*]{3,13}\s*-\s*`)
	// creditedSemiRe: ICICI and IDFC put the payee before "credited": "; REDBUS credited".
	creditedSemiRe = regexp.MustCompile(`(?i)[;&]\s*([^;&.\n]{2,50}?)\s+credited\b`)
	// payeeReceivedRe: Federal's outward alerts start with the payee: "Jerry Joseph has received Rs 6000 from your A/c".
	payeeReceivedRe = regexp.MustCompile(`(?i)^\s*([^\n.,;:]{2,50}?)\s+has received\b`)
	payerTriggerRe  = regexp.MustCompile(`(?i)\b(?:from|by|sender)\b[\s.:]*`)
	payeeTriggerRe  = regexp.MustCompile(`(?i)\b(?:to|at)\b\s*:?\s*`)
	nameStopPrefix  = regexp.MustCompile(`(?i)^(?:sender|vpa|name|payee|merchant name|beneficiary)\b\s*:?\s*`)
	nameTerminators = []string{
		"\n", "(", ")", ". ", ",", ";", "|", "/", " -", "- ", "*", ":", "@",
		" on ", " ref", " upi", " utr", " imps", " neft", " rtgs", " via ", " thru", " through",
		" avl", " bal", " info", " not ", " if ", " for ", " at ", " dated", " txn", " rrn",
		" a/c", " ac ", " acct", " account", " vpa", " is ", " has ", " with ", " in ", " & ",
		" and ", " ifsc", " value", " from ", " to ", " by ", " total", " clear", " call",
		" credited", " debited", " using", " towards", " से", " द्वारा",
	}
	nameStopWords = map[string]bool{
		"your": true, "you": true, "ur": true, "a/c": true, "ac": true, "acct": true, "account": true,
		"the": true, "rs": true, "inr": true, "upi": true, "imps": true, "neft": true, "rtgs": true,
		"cash": true, "cheque": true, "chq": true, "atm": true, "mobile": true, "card": true,
		"debit": true, "credit": true, "date": true, "bank": true, "branch": true, "a": true,
		"an": true, "ref": true, "self": true, "merchant": true, "na": true, "null": true,
		"unknown": true, "ip": true, "us": true, "me": true, "beneficiary": true, "sms": true,
		"customer": true, "block": true, "dispute": true, "report": true, "cdm": true, "pos": true,
		"nfs": true, "ecs": true, "ach": true, "deposit": true, "transfer": true,
	}
)

// smsCounterparty names who paid (for a credit) or who was paid (for a
// debit). A VPA is the surest handle, then structured bank fields, then the
// words after "from"/"by" or "to"/"at".
func smsCounterparty(t, low, kind string) *string {
	if m := vpaRe.FindString(t); m != "" {
		return smsPtr(m)
	}
	if kind == SMSDebit {
		for _, re := range []*regexp.Regexp{creditedSemiRe, payeeReceivedRe} {
			if m := re.FindStringSubmatch(t); m != nil {
				if n := cleanName(m[1]); n != "" {
					return smsPtr(n)
				}
			}
		}
	}
	for _, re := range []*regexp.Regexp{slashInfoRe, neftInfoRe, mobileDashRe} {
		if loc := re.FindStringIndex(t); loc != nil {
			if n := nameAt(t, loc[1]); n != "" {
				return smsPtr(n)
			}
		}
	}
	if m := hdfcNEFTRe.FindStringSubmatch(t); m != nil {
		if n := cleanName(m[1]); n != "" {
			return smsPtr(n)
		}
	}
	trigger := payerTriggerRe
	if kind == SMSDebit {
		trigger = payeeTriggerRe
	}
	for _, loc := range trigger.FindAllStringIndex(t, -1) {
		if n := nameAt(t, loc[1]); n != "" {
			return smsPtr(n)
		}
	}
	return nil
}

// nameAt reads a name starting at i, up to the first word or mark that
// cannot be part of one.
func nameAt(t string, i int) string {
	s := t[i:]
	if len(s) > 90 {
		s = s[:90]
	}
	ls := asciiLower(s)
	cut := len(s)
	for _, term := range nameTerminators {
		if j := strings.Index(ls, term); j >= 0 && j < cut {
			cut = j
		}
	}
	if strings.HasSuffix(ls[:cut], ".") {
		cut--
	}
	return cleanName(s[:cut])
}

// cleanName accepts only what reads like a person's or shop's name.
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	// Some banks glue their sign-off to the last field: "...LIMI-CBoI".
	if i := strings.LastIndexByte(s, '-'); i > 0 && isBankName(asciiLower(s[i+1:])) {
		s = s[:i]
	}
	s = nameStopPrefix.ReplaceAllString(s, "")
	s = strings.Trim(s, " .-:'&")
	n := utf8.RuneCountInString(s)
	if n < 2 || n > 50 || !utf8.ValidString(s) {
		return ""
	}
	letters := 0
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r):
			letters++
		case r == ' ' || r == '.' || r == '&' || r == '\'' || r == '-':
		default:
			return ""
		}
	}
	if letters < 2 {
		return ""
	}
	words := strings.Fields(asciiLower(s))
	if nameStopWords[words[0]] {
		return ""
	}
	for _, w := range words {
		if w == "bank" || w == "a/c" {
			return ""
		}
	}
	return s
}

// ---------------------------------------------------------------------------
// Date

var (
	monthNumber = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	// "12Mar24", "14-Mar-2024", "16-MAR-24", "18AUG2024", "14 March, 2024".
	dateDMonYRe = regexp.MustCompile(`(?i)(?:^|[^0-9])(\d{1,2})(?:st|nd|rd|th)?[-/. ]?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?[-/. ,]*(\d{4}|\d{2})(?:[^0-9:]|$)`)
	// "2024-03-15", "2026-08-21:05:20:26".
	dateISORe = regexp.MustCompile(`(?:^|[^0-9])(\d{4})-(\d{1,2})-(\d{1,2})(?:[^0-9]|$)`)
	// "13-03-24", "05/04/2024", "15.03.2024"; day first, as Indian banks write.
	dateDMYRe = regexp.MustCompile(`(?:^|[^0-9])(\d{1,2})([-/.])(\d{1,2})([-/.])(\d{4}|\d{2})(?:[^0-9:]|$)`)
	// "March 19, 2025".
	dateMonDYRe = regexp.MustCompile(`(?i)\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?:[^0-9]|$)`)
)

// smsDate returns the earliest valid date written in the message.
func smsDate(t string) *string {
	best, bestAt := "", len(t)+1
	consider := func(at int, d, m int, y string) {
		if at >= bestAt {
			return
		}
		if s, ok := calendarDate(d, m, y); ok {
			best, bestAt = s, at
		}
	}
	for _, m := range dateDMonYRe.FindAllStringSubmatchIndex(t, -1) {
		consider(m[2], smsAtoi(t[m[2]:m[3]]), monthNumber[asciiLower(t[m[4]:m[5]])], t[m[6]:m[7]])
	}
	for _, m := range dateISORe.FindAllStringSubmatchIndex(t, -1) {
		consider(m[2], smsAtoi(t[m[6]:m[7]]), smsAtoi(t[m[4]:m[5]]), t[m[2]:m[3]])
	}
	for _, m := range dateDMYRe.FindAllStringSubmatchIndex(t, -1) {
		sep1, sep2, year := t[m[4]:m[5]], t[m[8]:m[9]], t[m[10]:m[11]]
		if sep1 != sep2 || (sep1 == "." && len(year) != 4) {
			continue
		}
		consider(m[2], smsAtoi(t[m[2]:m[3]]), smsAtoi(t[m[6]:m[7]]), year)
	}
	for _, m := range dateMonDYRe.FindAllStringSubmatchIndex(t, -1) {
		consider(m[2], smsAtoi(t[m[4]:m[5]]), monthNumber[asciiLower(t[m[2]:m[3]])], t[m[6]:m[7]])
	}
	if best == "" {
		return nil
	}
	return &best
}

// calendarDate checks a day, month and two- or four-digit year (taken as
// this century) and formats it as YYYY-MM-DD.
func calendarDate(d, m int, year string) (string, bool) {
	y := smsAtoi(year)
	if len(year) == 2 {
		y += 2000
	}
	if y < 2000 || y > 2099 || m < 1 || m > 12 || d < 1 || d > smsDaysInMonth(m, y) {
		return "", false
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d), true
}

func smsDaysInMonth(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// atoi reads a short run of ASCII digits; the patterns guarantee the input.
func smsAtoi(s string) int {
	n := 0
	for i := 0; i < len(s) && i < 9; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// ---------------------------------------------------------------------------
// Bank

type bankName struct {
	re   *regexp.Regexp
	name string
}

// smsBanks maps the ways alerts name a bank to one short stable name. Where
// one name contains another ("South Indian Bank" / "Indian Bank") the
// longer mention wins.
var smsBanks = []bankName{
	{regexp.MustCompile(`state bank of india|\bsbi\b|भारतीय स्टेट बैंक|एसबीआई`), "SBI"},
	{regexp.MustCompile(`\bhdfc\b|\bhdfcbk\b|एचडीएफसी`), "HDFC"},
	{regexp.MustCompile(`\bicici\b|आईसीआईसीआई`), "ICICI"},
	{regexp.MustCompile(`\baxis\b|एक्सिस`), "Axis"},
	{regexp.MustCompile(`\bkotak\b|कोटक`), "Kotak"},
	{regexp.MustCompile(`punjab national bank|\bpnb\b|पंजाब ने?शनल बैंक|पीएनबी`), "PNB"},
	{regexp.MustCompile(`bank of baroda|\bbob\b|\bbobcard\b|बैंक ऑफ बड़ौदा`), "BOB"},
	{regexp.MustCompile(`\bcanara\b|canarabank|केनरा`), "Canara"},
	{regexp.MustCompile(`union bank(?: of india)?|यूनियन बैंक`), "Union"},
	{regexp.MustCompile(`city union bank`), "City Union"},
	{regexp.MustCompile(`\bidfc\b`), "IDFC First"},
	{regexp.MustCompile(`\bindusind\b`), "IndusInd"},
	{regexp.MustCompile(`\byes ?bank\b`), "Yes"},
	{regexp.MustCompile(`federal bank|\bfedmobile\b|scapia federal`), "Federal"},
	{regexp.MustCompile(`\bau (?:small finance )?bank\b|\bau a/c\b`), "AU"},
	{regexp.MustCompile(`\brbl\b|ratnakar bank`), "RBL"},
	{regexp.MustCompile(`paytm payments? bank|\bppbl\b`), "Paytm Payments"},
	{regexp.MustCompile(`airtel payments? bank|\bairtel bank\b`), "Airtel Payments"},
	{regexp.MustCompile(`india post|\bippb\b|इंडिया पोस्ट`), "India Post"},
	{regexp.MustCompile(`fino payments? bank`), "Fino Payments"},
	{regexp.MustCompile(`jio payments? bank`), "Jio Payments"},
	{regexp.MustCompile(`bank of maharashtra|\bmahabank\b`), "BOM"},
	{regexp.MustCompile(`bank of india|\bboi\b`), "BOI"},
	{regexp.MustCompile(`central bank of india|\bcboi\b`), "Central"},
	{regexp.MustCompile(`indian bank|\bindianbank\b`), "Indian Bank"},
	{regexp.MustCompile(`indian overseas bank|\biob\b`), "IOB"},
	{regexp.MustCompile(`\buco bank\b`), "UCO"},
	{regexp.MustCompile(`\bidbi\b`), "IDBI"},
	{regexp.MustCompile(`\bbandhan\b`), "Bandhan"},
	{regexp.MustCompile(`\bequitas\b`), "Equitas"},
	{regexp.MustCompile(`\bujjivan\b`), "Ujjivan"},
	{regexp.MustCompile(`\bjana (?:small finance bank|sfb|bank)\b`), "Jana"},
	{regexp.MustCompile(`\bsuryoday\b`), "Suryoday"},
	{regexp.MustCompile(`\butkarsh\b`), "Utkarsh"},
	{regexp.MustCompile(`\besaf\b`), "ESAF"},
	{regexp.MustCompile(`south indian bank`), "South Indian"},
	{regexp.MustCompile(`karnataka bank`), "Karnataka"},
	{regexp.MustCompile(`karur vysya|\bkvb\b`), "KVB"},
	{regexp.MustCompile(`kerala gramin bank`), "Kerala Gramin"},
	{regexp.MustCompile(`kerala bank`), "Kerala Bank"},
	{regexp.MustCompile(`\bdcb bank\b`), "DCB"},
	{regexp.MustCompile(`punjab (?:&|and) sind`), "PSB"},
	{regexp.MustCompile(`\bsaraswat\b`), "Saraswat"},
	{regexp.MustCompile(`\bcosmos\b`), "Cosmos"},
	{regexp.MustCompile(`\btjsb\b`), "TJSB"},
	{regexp.MustCompile(`\bsvc (?:co-?op(?:erative)? )?bank\b`), "SVC"},
	{regexp.MustCompile(`\babhyudaya\b`), "Abhyudaya"},
	{regexp.MustCompile(`janata sahakari bank`), "Janata Sahakari"},
}

// coopBankRe names any other cooperative or regional rural bank by the words
// before "Co-op Bank" / "Gramin Bank".
var coopBankRe = regexp.MustCompile(`\b((?:[A-Z][A-Za-z]+ ){1,3}(?:Co-?op(?:erative)?\.?|Sahakari|Urban|Nagarik|Gramin|Grameen)) Bank\b`)

type bankMention struct {
	start, end int
	name       string
}

var bankBeforeAcctRe = regexp.MustCompile(`^\s*(?:bank\s*)?(?:ltd\.?\s*)?(?:a/c|acct|account|ac\b|card|debit card|credit card)`)

// smsBank names the bank that sent the alert. VPAs are masked first so a
// payer's "@okaxis" does not count. A bank written just before "A/c" is the
// account's bank; otherwise a sign-off at the end ("-SBI") is the sender;
// otherwise the first bank named.
func smsBank(t, low string) *string {
	masked := []byte(low)
	for _, loc := range vpaRe.FindAllStringIndex(t, -1) {
		for i := loc[0]; i < loc[1]; i++ {
			masked[i] = ' '
		}
	}
	ml := string(masked)
	var ms []bankMention
	for _, b := range smsBanks {
		for _, loc := range b.re.FindAllStringIndex(ml, -1) {
			ms = append(ms, bankMention{loc[0], loc[1], b.name})
		}
	}
	known := len(ms)
coop:
	for _, m := range coopBankRe.FindAllStringSubmatchIndex(t, -1) {
		for _, k := range ms[:known] {
			if k.start < m[1] && m[0] < k.end {
				continue coop // a bank we know by its short name
			}
		}
		ms = append(ms, bankMention{m[0], m[1], strings.TrimRight(t[m[2]:m[3]], ".")})
	}
	ms = outermostMentions(ms)
	if len(ms) == 0 {
		return nil
	}
	for _, m := range ms {
		if bankBeforeAcctRe.MatchString(ml[m.end:]) {
			return smsPtr(m.name)
		}
	}
	last := ms[len(ms)-1]
	if tail := strings.TrimRight(ml[last.end:], " .-!\n"); len(tail) <= 3 {
		return smsPtr(last.name)
	}
	return smsPtr(ms[0].name)
}

// isBankName reports whether s is nothing but a bank's name.
func isBankName(s string) bool {
	s = strings.TrimSpace(s)
	for _, b := range smsBanks {
		if loc := b.re.FindStringIndex(s); loc != nil && loc[0] == 0 && loc[1] == len(s) {
			return true
		}
	}
	return false
}

// outermostMentions drops mentions inside longer ones and sorts by position.
func outermostMentions(ms []bankMention) []bankMention {
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].start != ms[j].start {
			return ms[i].start < ms[j].start
		}
		return ms[i].end > ms[j].end
	})
	var out []bankMention
	for _, m := range ms {
		if n := len(out); n > 0 && m.end <= out[n-1].end {
			continue
		}
		out = append(out, m)
	}
	return out
}

func smsPtr(s string) *string { return &s }
