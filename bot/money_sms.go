package bot

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"sewa/flows"
	"sewa/store"
)

// donationFlowID is the flow whose cards bank SMS become.
const donationFlowID = "donation"

// What became of one SMS.
const (
	SMSCreated     = "created"        // a new donation card
	SMSDuplicate   = "duplicate"      // its money already has a card
	SMSNotDonation = "not_a_donation" // a debit, an OTP, a promotion, …
)

// SMSResult is what became of one bank SMS.
type SMSResult struct {
	Status string    // SMSCreated, SMSDuplicate or SMSNotDonation
	Card   string    // the card made or matched
	Stage  string    // where that card is now
	Reason string    // why it is not a donation
	SMS    flows.SMS // what the parser read
}

// SMSSource says where SMS come from.
type SMSSource struct {
	Via   string // "http", "import": written in the card's history
	Quiet bool   // make cards without offering them to treasurers (a bulk import)
}

// TakeSMS turns one bank SMS into a donation card in one transaction, unless
// it is not a credit or its money already has a card (then the result names
// that card). Any number of calls may run at once, from any number of
// processes: the same money still makes one card.
func (r *Runtime) TakeSMS(ctx context.Context, text string, from SMSSource) (SMSResult, error) {
	var res SMSResult
	err := r.asSystem(ctx, r.clock.Now(), func(h *handling) error {
		var card *store.Card
		var err error
		res, card, err = h.takeSMS(text, from.Via)
		if err != nil || card == nil || from.Quiet {
			return err
		}
		return h.offerDonation(card)
	})
	if err != nil {
		return SMSResult{}, err
	}
	return res, nil
}

// takeSMS records an SMS and makes its donation card when it is a credit
// whose money has none yet; the new card is returned, nil otherwise.
func (h *handling) takeSMS(text, via string) (SMSResult, *store.Card, error) {
	text = strings.TrimSpace(text)
	s := flows.ParseSMS(text)
	res := SMSResult{SMS: s}
	rec := store.SMSRecord{Hash: smsHash(text), Received: h.now, Via: via, Kind: s.Kind, Body: clipBytes(text, maxSMSField)}
	if s.Kind != flows.SMSCredit {
		res.Status, res.Reason = SMSNotDonation, s.Reason
		if res.Reason == "" {
			res.Reason = "it does not say money was received"
		}
		rec.Reason = res.Reason
		_, err := h.tx.RecordSMS(rec)
		return res, nil, err
	}
	key := donationKey(s, text)
	id, err := h.tx.DonationCard(key)
	if err != nil {
		return res, nil, err
	}
	var card *store.Card
	if id == "" {
		card, id, err = h.newDonation(s, text, key, via)
		if err != nil {
			return res, nil, err
		}
	}
	res.Card = id
	rec.Card = id
	fresh, err := h.tx.RecordSMS(rec)
	if err != nil {
		return res, nil, err
	}
	if card != nil {
		res.Status, res.Stage = SMSCreated, card.Stage
		return res, card, nil
	}
	res.Status = SMSDuplicate
	existing, err := h.tx.Card(id)
	if err != nil {
		return res, nil, fmt.Errorf("donation %s: %w", id, err)
	}
	res.Stage = existing.Stage
	if fresh {
		// Another wording of the same money: worth a line in the history;
		// a forwarder repeating itself is not.
		return res, nil, h.event(existing, existing.Stage, existing.Stage, "the same money again, by SMS via "+via)
	}
	return res, nil, nil
}

// maxSMSField caps the SMS text kept on a card; real alerts are far shorter.
const maxSMSField = 2000

// errSameMoney undoes a card whose money another card took first.
var errSameMoney = errors.New("the same money already has a card")

// newDonation makes the donation card of a credit and claims its key. When
// another transaction claimed the key first (possible only where the
// database lets two writers in at once), the card is undone and the other
// card's id returned with a nil card.
func (h *handling) newDonation(s flows.SMS, text, key, via string) (*store.Card, string, error) {
	f := h.r.flows.Flow(donationFlowID)
	if f == nil || len(f.Stages) == 0 {
		return nil, "", fmt.Errorf("bank SMS: %w %q", errNoFlow, donationFlowID)
	}
	fields := map[string]string{flows.FieldSMS: clipBytes(text, maxSMSField), flows.FieldMode: flows.PaymentMode(text)}
	for k, v := range map[string]*string{flows.FieldAmount: s.Amount, flows.FieldRef: s.Ref, "account_tail": s.AccountTail,
		"counterparty": s.Counterparty, flows.FieldDate: s.Date, "bank": s.Bank} {
		if v != nil && *v != "" {
			fields[k] = *v
		}
	}
	if cp := fields["counterparty"]; cp != "" {
		past, err := h.tx.DonationsFrom(cp, "", 3)
		if err != nil {
			return nil, "", err
		}
		if len(past) > 0 {
			fields["past_donations"] = pastDonations(past)
		}
	}
	card := &store.Card{Flow: f.ID, Stage: f.Stages[0].ID, Fields: fields, Created: h.now, Updated: h.now, StageEntered: h.now}
	var other string
	err := h.tx.Savepoint("donation", func() error {
		if err := h.tx.NewCard(f.Prefix, card); err != nil {
			return err
		}
		var err error
		if other, err = h.tx.AddDonationKey(key, card.ID, h.now); err != nil {
			return err
		}
		if other != "" {
			return errSameMoney
		}
		return h.event(card, "", card.Stage, "created from a bank SMS via "+via)
	})
	if errors.Is(err, errSameMoney) {
		return nil, other, nil
	}
	if err != nil {
		return nil, "", err
	}
	h.r.log.Info("donation card created", "card", card.ID, "amount", fields[flows.FieldAmount], "ref", fields[flows.FieldRef], "via", via)
	return card, card.ID, nil
}

// offerDonation puts a new donation card to work: its first stage's
// actions run, and it is offered to a treasurer (bot/work_offers.go). With
// nobody having the treasurer role, coordinators are told instead, so no
// money waits unseen.
func (h *handling) offerDonation(card *store.Card) error {
	if st := h.donationStage(card); st != nil {
		for _, a := range st.OnEnter {
			if err := h.do(a, card); err != nil {
				return err
			}
		}
	}
	if err := h.cardEntered(card, ""); err != nil {
		return err
	}
	treasurers, err := h.tx.ContactsWithRole(RoleTreasurer)
	if err != nil || len(treasurers) > 0 {
		return err
	}
	coordinators, err := h.tx.ContactsWithRole(RoleCoordinator)
	if err != nil {
		return err
	}
	for _, c := range coordinators {
		if h.who != nil && c.ID == h.who.ID {
			continue
		}
		lang := langOf(c, h.r.lang)
		if err := h.sendTo(c, Outgoing{Text: h.catalog().Get(lang, "donation_new", h.donationArgs(card, lang)...)}); err != nil {
			return err
		}
	}
	return nil
}

// donationKey names the money an SMS reports, so that the same money makes
// one card however many times and ways it arrives: the bank's reference
// (a short one, like a cheque number, with the amount, since two banks'
// cheque books may share numbers); without a reference, the amount, the
// account, the date and the payer; without a date either, the text itself.
func donationKey(s flows.SMS, text string) string {
	val := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.ToLower(strings.Join(strings.Fields(*p), " "))
	}
	amount := val(s.Amount)
	if ref := strings.ToUpper(val(s.Ref)); ref != "" {
		if len(ref) < 9 {
			return "ref:" + ref + "|" + amount
		}
		return "ref:" + ref
	}
	if s.Date == nil {
		return "sms:" + smsHash(strings.Join(strings.Fields(strings.ToLower(text)), " "))
	}
	return "txn:" + amount + "|" + val(s.AccountTail) + "|" + val(s.Date) + "|" + val(s.Counterparty)
}

func smsHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// clipBytes cuts s to at most n bytes without splitting a letter.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// pastDonations writes earlier donations from the same payer for the card:
// "D-3 ₹500.00 2024-02-10 Asha Gupta; D-1 …".
func pastDonations(cards []*store.Card) string {
	parts := make([]string, len(cards))
	for i, c := range cards {
		p := c.ID + " " + flows.FormatRupees(c.Fields[flows.FieldAmount])
		if d := c.Fields[flows.FieldDate]; d != "" {
			p += " " + d
		}
		if n := firstSet(c.Fields[flows.FieldReceiptName], c.Fields["donor_name"]); n != "" {
			p += " " + n
		}
		parts[i] = p
	}
	return strings.Join(parts, "; ")
}

func firstSet(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// donationArgs are a donation card's facts for the catalog: card, stage,
// amount, date, ref, from.
func (h *handling) donationArgs(card *store.Card, lang string) []any {
	unknown := h.catalog().Get(lang, "donation_unknown")
	or := func(v string) string {
		if v == "" {
			return unknown
		}
		return v
	}
	date := card.Fields[flows.FieldDate]
	if d, err := time.Parse(time.DateOnly, date); err == nil {
		date = d.Format("2 Jan 2006")
	}
	return []any{"card", card.ID, "stage", h.stageTitle(card, lang), "amount", or(flows.FormatRupees(card.Fields[flows.FieldAmount])),
		"date", or(date), "ref", or(card.Fields[flows.FieldRef]), "from", or(card.Fields["counterparty"])}
}

// isPastedSMS reports whether text, the bare text of a message (not a
// command, not a button), is a bank SMS a treasurer or coordinator pasted or
// forwarded, to be taken as one rather than as an answer or a menu pick.
// Outside a conversation that is any credit or debit, and anything else
// that reads like a bank alert (to be told why it is not a donation).
// Inside one, only an unmistakable alert is: a credit or debit naming an
// account or a bank reference, which no answer to Sewa's questions is; the
// question is asked again afterwards. Nobody else's text is ever an SMS.
func (h *handling) isPastedSMS(text string) bool {
	if h.who == nil || !h.who.Has(RoleTreasurer) && !h.who.Has(RoleCoordinator) || strings.HasPrefix(text, "/") {
		return false
	}
	s := flows.ParseSMS(text)
	switch {
	case s.Kind == flows.SMSNone:
		return !h.st.Active() && readsLikeAlert(text)
	case h.st.Active():
		return s.AccountTail != nil || s.Ref != nil
	}
	return true
}

// readsLikeAlert: long enough and with figures, as every bank alert is; a
// greeting or a menu number is not.
func readsLikeAlert(text string) bool {
	return utf8.RuneCountInString(text) >= 40 && strings.IndexFunc(text, unicode.IsDigit) >= 0
}

// pasteSMS takes text as a bank SMS from the sender and tells them what
// became of it; a question they were being asked is asked again.
func (h *handling) pasteSMS(text string) error {
	res, card, err := h.takeSMS(text, h.who.Key())
	if err != nil {
		return err
	}
	if err := h.tellSMSResult(res, card); err != nil {
		return err
	}
	if card != nil {
		if err := h.offerDonation(card); err != nil {
			return err
		}
	}
	return h.reaskAfterSMS()
}

func (h *handling) tellSMSResult(res SMSResult, card *store.Card) error {
	switch res.Status {
	case SMSNotDonation:
		return h.say("sms_not_donation", "reason", res.Reason)
	case SMSDuplicate:
		existing, err := h.tx.Card(res.Card)
		if err != nil {
			return err
		}
		return h.say("sms_duplicate", h.donationArgs(existing, h.lang)...)
	}
	text := h.catalog().Get(h.lang, "sms_created", h.donationArgs(card, h.lang)...)
	if past := card.Fields["past_donations"]; past != "" {
		text += "\n" + h.catalog().Get(h.lang, "donation_past", "past", past)
	}
	return h.send(Outgoing{Text: text})
}

// reaskAfterSMS repeats the question the sender is being asked, if any, with
// the same version: its buttons stay good.
func (h *handling) reaskAfterSMS() error {
	if !h.st.Active() {
		return nil
	}
	f := h.r.flows.Flow(h.st.Flow)
	if f == nil {
		return nil
	}
	var qs []*flows.Question
	if h.st.Stage == "" {
		if f.Intake != nil {
			qs = f.Intake.Questions
		}
	} else if st := f.Stage(h.st.Stage); st != nil {
		qs = st.Questions
	}
	if h.st.Q >= len(qs) {
		return nil
	}
	return h.ask(flows.Ask{Question: qs[h.st.Q], Version: h.st.Version})
}

// cmdSMS is /sms TEXT: take TEXT as a bank SMS. Alone, /sms lists the SMS
// lately turned away, so a treasurer can see what the forwarder sent.
func (h *handling) cmdSMS(args string) error {
	if strings.TrimSpace(args) != "" {
		return h.pasteSMS(args)
	}
	recent, err := h.tx.RecentSMS(5)
	if err != nil {
		return err
	}
	text := h.catalog().Get(h.lang, "sms_usage")
	if len(recent) > 0 {
		text += "\n" + h.catalog().Get(h.lang, "sms_recent")
		for _, r := range recent {
			text += fmt.Sprintf("\n%s · %s · %s: %s", h.when(r.Received), r.Via, r.Reason, clipBytes(strings.Join(strings.Fields(r.Body), " "), 80))
		}
	}
	return h.send(Outgoing{Text: text})
}

// cmdDonations lists the open donations, stage by stage, oldest first.
func (h *handling) cmdDonations(string) error {
	f := h.r.flows.Flow(donationFlowID)
	if f == nil {
		return h.say("donations_none")
	}
	var b strings.Builder
	n := 0
	for _, st := range f.Stages {
		if st.Final {
			continue
		}
		cards, err := h.tx.Queue(f.ID, st.ID, 20)
		if err != nil {
			return err
		}
		if len(cards) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:", st.Title.In(h.lang))
		for _, c := range cards {
			n++
			fmt.Fprintf(&b, "\n  %s", h.catalog().Get(h.lang, "donations_line", h.donationArgs(c, h.lang)...))
		}
	}
	if n == 0 {
		return h.say("donations_none")
	}
	return h.send(Outgoing{Text: h.catalog().Get(h.lang, "donations_title") + b.String()})
}

// maxSMSBody bounds a POST /sms body: an SMS is at most a few hundred bytes.
const maxSMSBody = 16 << 10

// smsReply is the JSON answer of POST /sms.
type smsReply struct {
	Status string     `json:"status,omitempty"` // created, duplicate, not_a_donation
	Card   string     `json:"card,omitempty"`
	Stage  string     `json:"stage,omitempty"`
	Reason string     `json:"reason,omitempty"`
	SMS    *flows.SMS `json:"sms,omitempty"`
	Error  string     `json:"error,omitempty"`
}

// serveSMS is POST /sms: an SMS-forwarder app sends one bank SMS, as the
// raw body or JSON ({"text": …}, or "message", "body", "sms"), or a form.
// 201 names the new card; 200 the card its money already has; 422 says why
// it is not a donation; 401 a bad token; 413 a huge body; 500 a failure on
// our side, so the forwarder tries again.
func (r *Runtime) serveSMS(w http.ResponseWriter, req *http.Request) {
	reply := func(code int, body smsReply) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(body)
	}
	if r.money.smsToken == "" {
		reply(http.StatusNotFound, smsReply{Error: "the SMS endpoint is disabled: set SEWA_SMS_TOKEN to turn it on"})
		return
	}
	if !r.smsAuthorized(req) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sewa"`)
		reply(http.StatusUnauthorized, smsReply{Error: "send Authorization: Bearer SEWA_SMS_TOKEN"})
		return
	}
	req.Body = http.MaxBytesReader(w, req.Body, maxSMSBody)
	text, err := smsBody(req)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		reply(http.StatusRequestEntityTooLarge, smsReply{Error: fmt.Sprintf("the body is over %d bytes; send one SMS", maxSMSBody)})
		return
	case err != nil:
		reply(http.StatusBadRequest, smsReply{Error: err.Error()})
		return
	case strings.TrimSpace(text) == "":
		reply(http.StatusBadRequest, smsReply{Error: `no SMS text: send it as the body, or as JSON {"text": "…"}`})
		return
	}
	res, err := r.TakeSMS(req.Context(), text, SMSSource{Via: "http"})
	if err != nil {
		r.log.Error("POST /sms failed; the forwarder will retry", "err", err)
		reply(http.StatusInternalServerError, smsReply{Error: "could not store the SMS; try again"})
		return
	}
	body := smsReply{Status: res.Status, Card: res.Card, Stage: res.Stage, Reason: res.Reason, SMS: &res.SMS}
	switch res.Status {
	case SMSCreated:
		reply(http.StatusCreated, body)
	case SMSDuplicate:
		reply(http.StatusOK, body)
	default:
		r.log.Info("SMS is not a donation", "reason", res.Reason)
		reply(http.StatusUnprocessableEntity, body)
	}
}

// smsAuthorized compares the bearer token in constant time (hashing both
// sides first, so not even the token's length leaks).
func (r *Runtime) smsAuthorized(req *http.Request) bool {
	scheme, token, ok := strings.Cut(strings.TrimSpace(req.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(r.money.smsToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// smsTextKeys are where forwarder apps put the SMS in JSON and forms.
var smsTextKeys = []string{"text", "message", "body", "sms", "msg", "content"}

// smsBody reads the SMS text of a POST /sms.
func smsBody(req *http.Request) (string, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return "", err
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	trimmed := strings.TrimSpace(string(b))
	switch {
	case ct == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(trimmed)
		if err != nil {
			return "", fmt.Errorf("cannot read the form: %w", err)
		}
		for _, k := range smsTextKeys {
			if v := form.Get(k); v != "" {
				return v, nil
			}
		}
		return "", nil
	case ct == "application/json" || strings.HasPrefix(trimmed, "{"):
		var m map[string]any
		if err := json.Unmarshal([]byte(trimmed), &m); err != nil {
			return "", fmt.Errorf(`cannot read the JSON (want {"text": "…"}): %w`, err)
		}
		for _, k := range smsTextKeys {
			if v, ok := m[k].(string); ok && v != "" {
				return v, nil
			}
		}
		return "", nil
	}
	return trimmed, nil
}
