package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"sewa/flows"
	"sewa/store"
)

// Receipts. make_receipt runs when a donation card enters its receipt stage:
// it takes the next number of the donation's financial year, draws the PDF
// under the data directory, stores both with the card and sends the file to
// the donor and to whoever finished the card. All of it is in the message's
// transaction: if anything fails, the number is given back and the next
// receipt takes it (its file overwrites any drawn for the failed one), so
// numbers never skip or repeat.
//
// The donor is reached on chat when the donor_phone on the card belongs to
// a contact (WhatsApp contacts always have one; Telegram ones once they
// share their number); that contact becomes the card's requester, so they
// can follow it with /mystatus. Otherwise the treasurer gets the file to
// send by email or by hand.

// makeReceipt is the make_receipt action.
func makeReceipt(h *handling, card *store.Card) error {
	if _, err := h.tx.ReceiptOf(card.ID); err == nil {
		// A card that comes back through this stage keeps its one receipt.
		return h.advance(card)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	issued := h.now.In(h.r.loc)
	fy := flows.ReceiptFY(card.Fields, issued)
	org := h.r.money.org
	// Check first, so a refused receipt takes no number.
	if _, err := flows.NewReceipt(engineCard(card), org, flows.ReceiptNumber(fy, 0), issued); err != nil {
		return h.receiptRefused(card, err)
	}
	if h.r.money.dataDir == "" {
		return h.receiptRefused(card, flows.ReceiptProblems{{Msg: "no data directory to keep receipts in"}})
	}
	seq, err := h.tx.NextReceiptSeq(fy)
	if err != nil {
		return err
	}
	number := flows.ReceiptNumber(fy, seq)
	rc, err := flows.NewReceipt(engineCard(card), org, number, issued)
	if err != nil {
		return err
	}
	path := h.r.receiptPath(fy, seq)
	if err := writeReceiptFile(path, rc.WritePDF); err != nil {
		return fmt.Errorf("receipt %s of %s: %w", number, card.ID, err)
	}
	content, err := json.Marshal(rc)
	if err != nil {
		return err
	}
	if err := h.tx.AddReceipt(store.Receipt{Number: number, FY: fy, Seq: seq, Card: card.ID, Issued: h.now, Path: path, Content: string(content)}); err != nil {
		return err
	}
	card.Fields["receipt_no"] = number
	card.Fields["receipt_file"] = path
	delete(card.Fields, "receipt_problem")
	if err := h.event(card, card.Stage, card.Stage, "receipt "+number); err != nil {
		return err
	}
	h.r.log.Info("receipt made", "card", card.ID, "receipt", number, "path", path)
	if err := h.sendReceipt(card, rc, path, false); err != nil {
		return err
	}
	return h.advance(card)
}

// receiptPath is where receipt seq of fy is kept: one file per number, so a
// number given back by a failed transaction is drawn again over the same file.
func (r *Runtime) receiptPath(fy string, seq int) string {
	return filepath.Join(r.money.dataDir, "receipts", fy, fmt.Sprintf("receipt-%s-%04d.pdf", fy, seq))
}

// receiptRefused handles a card whose receipt cannot be made. When the card
// is at fault, it goes back to the stage that asks for what is wrong, so a
// treasurer corrects it there; when the configuration is, it waits here and
// coordinators are told what to set (then /receipt makes it).
func (h *handling) receiptRefused(card *store.Card, err error) error {
	var ps flows.ReceiptProblems
	if !errors.As(err, &ps) {
		return err
	}
	card.Fields["receipt_problem"] = ps.Error()
	back := h.stageAsking(card, ps.Fields())
	if back != "" && back != card.Stage {
		if h.who != nil {
			title := h.stageTitle(&store.Card{Flow: card.Flow, Stage: back}, h.lang)
			if err := h.say("receipt_refused", "card", card.ID, "problems", ps.Error(), "stage", title); err != nil {
				return err
			}
		}
		return h.move(card, back, "no receipt: "+ps.Error())
	}
	if err := h.event(card, card.Stage, card.Stage, "no receipt: "+ps.Error()); err != nil {
		return err
	}
	people, err := h.tx.ContactsWithRole(RoleCoordinator)
	if err != nil {
		return err
	}
	if h.who != nil && !slices.ContainsFunc(people, func(c *store.Contact) bool { return c.ID == h.who.ID }) {
		people = append(people, h.who)
	}
	for _, c := range people {
		lang := langOf(c, h.r.lang)
		text := h.catalog().Get(lang, "receipt_waiting", "card", card.ID, "problems", ps.Error(), "stage", h.stageTitle(card, lang))
		if err := h.sendTo(c, Outgoing{Text: text}); err != nil {
			return err
		}
	}
	return nil
}

// stageAsking finds the stage of card's flow whose questions ask for the
// first of fields: where a wrong or missing detail is put right.
func (h *handling) stageAsking(card *store.Card, fields []string) string {
	f := h.r.flows.Flow(card.Flow)
	if f == nil {
		return ""
	}
	for _, field := range fields {
		for _, st := range f.Stages {
			if st.Final || st.Role == flows.RoleSystem {
				continue
			}
			for _, q := range st.Questions {
				if q.ID == field {
					return st.ID
				}
			}
		}
	}
	return ""
}

// donorContact finds the donor on chat by the phone on the card, making
// them the card's requester. nil when the donor is not a contact.
func (h *handling) donorContact(card *store.Card) (*store.Contact, error) {
	if card.Requester != 0 {
		c, err := h.tx.ContactByID(card.Requester)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return c, err
		}
	}
	phone, ok := flows.IndianMobile(card.Fields["donor_phone"])
	if !ok {
		return nil, nil
	}
	cs, err := h.tx.ContactsWithPhone(phone)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	card.Requester = cs[0].ID
	return cs[0], nil
}

// sendReceipt sends the receipt's file to the donor, when on chat, and to
// the person who made or asked for it (treasurers when nobody did).
func (h *handling) sendReceipt(card *store.Card, rc flows.Receipt, path string, again bool) error {
	donor, err := h.donorContact(card)
	if err != nil {
		return err
	}
	amount := flows.FormatRupees(rc.Amount)
	if donor != nil {
		lang := langOf(donor, h.r.lang)
		caption := h.catalog().Get(lang, "receipt_donor", "amount", amount, "org", rc.Org.Name, "number", rc.Number, "card", card.ID)
		if err := h.sendTo(donor, Outgoing{Text: caption, Document: path}); err != nil {
			return err
		}
	}
	staff := []*store.Contact{h.who}
	if h.who == nil || donor != nil && h.who.ID == donor.ID {
		if staff, err = h.tx.ContactsWithRole(RoleTreasurer); err != nil {
			return err
		}
	}
	for _, c := range staff {
		lang := langOf(c, h.r.lang)
		key := "receipt_made"
		if again {
			key = "receipt_resent"
		}
		text := h.catalog().Get(lang, key, "number", rc.Number, "card", card.ID, "amount", amount, "name", rc.DonorName)
		switch {
		case donor != nil:
			text += " " + h.catalog().Get(lang, "receipt_to_donor", "who", personName(donor))
		case card.Fields["donor_email"] != "":
			text += " " + h.catalog().Get(lang, "receipt_send_email", "email", card.Fields["donor_email"])
		default:
			text += " " + h.catalog().Get(lang, "receipt_send_yourself")
		}
		if err := h.sendTo(c, Outgoing{Text: text, Document: path}); err != nil {
			return err
		}
	}
	return nil
}

// cmdReceipt is /receipt D-17: send a donation's receipt again (drawing
// the file again if it was lost), or make it when the card waits for it.
func (h *handling) cmdReceipt(args string) error {
	id, _ := cardArg(args)
	if id == "" {
		return h.say("receipt_usage")
	}
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return h.say("card_not_found", "card", id)
	}
	if err != nil {
		return err
	}
	if card.Flow != donationFlowID {
		return h.say("receipt_not_donation", "card", id)
	}
	rec, err := h.tx.ReceiptOf(card.ID)
	if errors.Is(err, store.ErrNotFound) {
		if st := h.donationStage(card); st != nil && slices.Contains(st.OnEnter, "make_receipt") {
			if err := makeReceipt(h, card); err != nil {
				return err
			}
			card.Updated = h.now
			return h.tx.SaveCard(card)
		}
		return h.say("receipt_none", "card", card.ID, "stage", h.stageTitle(card, h.lang))
	}
	if err != nil {
		return err
	}
	var rc flows.Receipt
	if err := json.Unmarshal([]byte(rec.Content), &rc); err != nil {
		return fmt.Errorf("receipt %s: %w", rec.Number, err)
	}
	if _, err := os.Stat(rec.Path); err != nil {
		// Lost with a disk or a move: draw it again, the same as it was.
		if err := writeReceiptFile(rec.Path, rc.WritePDF); err != nil {
			return fmt.Errorf("receipt %s of %s: %w", rec.Number, card.ID, err)
		}
	}
	requester := card.Requester
	if err := h.sendReceipt(card, rc, rec.Path, true); err != nil {
		return err
	}
	if err := h.event(card, card.Stage, card.Stage, "receipt "+rec.Number+" sent again"); err != nil {
		return err
	}
	if card.Requester != requester {
		card.Updated = h.now
		return h.tx.SaveCard(card)
	}
	return nil
}

// donationStage returns the stage card is in, or nil when the flow file no
// longer has it.
func (h *handling) donationStage(card *store.Card) *flows.Stage {
	if f := h.r.flows.Flow(card.Flow); f != nil {
		return f.Stage(card.Stage)
	}
	return nil
}

// writeReceiptFile writes path through a temporary file and a rename, so a
// reader never sees half a file.
func writeReceiptFile(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".receipt-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
