package bot

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disintegration/imaging"

	"sewa/flows"
	"sewa/store"
)

// Outreach: every delivery feeds an O- card (one per place and day), with
// its photos and numbers and a caption drafted in English and Hindi from the
// numbers alone: no names, phone numbers or addresses. The outreach
// volunteer checks each photo for faces (/blur: the photo with a numbered
// grid, the squares to blur, a preview, ok), settles the caption, posts, and
// pastes the link; the post then goes to the donors who asked for updates.
// Only the blurred (or checked, face-free) copies are ever sent onwards.

const (
	outreachFlow     = "outreach"
	photosField      = "photos"       // the originals, one path a line
	previewField     = "blur_preview" // "2|1 4 5|path" while a preview waits for ok
	postPhotosQ      = "post_photos"  // the draft stage's photo question, answered by /blur
	leftOut          = "-"            // a photo the volunteer left out
	outreachWaitCard = 50             // open outreach cards looked at for a place and day
)

// postPhotoField holds the checked copy of photo n ("-" when left out).
func postPhotoField(n int) string { return "post_photo_" + strconv.Itoa(n) }

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// createOutreach is the create_outreach action, on the route of a delivery:
// the delivery's photos and numbers join the open outreach card of its
// place and day that nobody has taken yet, or start a new one, which is
// offered to the outreach volunteers.
func createOutreach(h *handling, card *store.Card) error {
	f := h.r.flows.Flow(outreachFlow)
	if f == nil || len(f.Stages) == 0 {
		return nil
	}
	first := f.Stages[0]
	place := card.Fields[reservedAtField]
	day := h.now.In(h.r.loc).Format(time.DateOnly)
	waiting, err := h.tx.Queue(f.ID, first.ID, outreachWaitCard)
	if err != nil {
		return err
	}
	var o *store.Card
	for _, c := range waiting {
		if c.Assignee == 0 && c.Fields["day"] == day && c.Fields["area"] == place {
			o = c
			break
		}
	}
	if o == nil {
		o = &store.Card{Flow: f.ID, Stage: first.ID, Created: h.now, Updated: h.now, StageEntered: h.now,
			Fields: map[string]string{"day": day}}
		if place != "" {
			o.Fields["area"] = place
		}
		h.addDelivery(o, card)
		if err := h.tx.NewCard(f.Prefix, o); err != nil {
			return err
		}
		if err := h.event(o, "", o.Stage, "from "+card.ID); err != nil {
			return err
		}
		if err := h.cardEntered(o, ""); err != nil {
			return err
		}
	} else {
		h.addDelivery(o, card)
		o.Updated = h.now
		if err := h.tx.SaveCard(o); err != nil {
			return err
		}
		if err := h.event(o, o.Stage, o.Stage, "and "+card.ID); err != nil {
			return err
		}
	}
	return h.event(card, card.Stage, card.Stage, "outreach card "+o.ID)
}

// addDelivery adds a delivery's numbers and photos to outreach card o and
// drafts its captions again.
func (h *handling) addDelivery(o, delivery *store.Card) {
	add := func(field string, n string) {
		a, _ := strconv.Atoi(o.Fields[field])
		b, _ := strconv.Atoi(n)
		o.Fields[field] = strconv.Itoa(a + b)
	}
	add("kits", delivery.Fields["kits_given"])
	add("families", delivery.Fields["families"])
	add("people", delivery.Fields["people"])
	o.Fields["from"] = strings.TrimSpace(o.Fields["from"] + " " + delivery.ID)
	photos := append(splitLines(o.Fields[photosField]), splitLines(delivery.Fields["proof"])...)
	o.Fields[photosField] = strings.Join(photos, "\n")
	o.Fields["caption_en"] = h.draftCaption(o, "en")
	o.Fields["caption_hi"] = h.draftCaption(o, "hi")
}

// draftCaption writes the post's caption from the card's numbers and place
// only.
func (h *handling) draftCaption(o *store.Card, lang string) string {
	c := h.catalog()
	count := func(field, one, many string) string {
		n, _ := strconv.Atoi(o.Fields[field])
		if n == 1 {
			return c.Get(lang, one)
		}
		return c.Get(lang, many, "n", n)
	}
	area := ""
	if a := o.Fields["area"]; a != "" {
		area = c.Get(lang, "outreach_caption_area", "area", placeWord(a))
	}
	return c.Get(lang, "outreach_caption", "kits", count("kits", "outreach_n_kit", "outreach_n_kits"),
		"families", count("families", "outreach_n_family", "outreach_n_families"),
		"people", count("people", "outreach_n_person", "outreach_n_people"), "area", area)
}

// outreachDir is where the files made from card's photos are kept: the data
// directory (the database's, when none is set), outreach/O-3.
func (h *handling) outreachDir(card *store.Card) (string, error) {
	dir := h.r.money.dataDir
	if dir == "" {
		var err error
		if dir, err = h.tx.DatabaseDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "outreach", card.ID), nil
}

// outreachCardFor finds the outreach card /blur or /outreach is about: the
// one named, the one the sender is working on, or the one they hold. It
// tells the sender why there is none.
func (h *handling) outreachCardFor(id string) (*store.Card, error) {
	if id == "" && strings.HasPrefix(h.st.Card, h.outreachPrefix()+"-") {
		id = h.st.Card
	}
	if id == "" {
		held, err := h.tx.HeldCards(h.who.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range held {
			if c.Flow == outreachFlow {
				id = c.ID
				break
			}
		}
	}
	if id == "" {
		return nil, h.say("outreach_none_held")
	}
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, h.say("work_no_card", "card", id)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case card.Flow != outreachFlow:
		return nil, h.say("outreach_not_outreach", "card", card.ID)
	case !card.Open:
		return nil, h.say("outreach_closed", "card", card.ID)
	case card.Assignee != h.who.ID && !h.who.Has(RoleCoordinator):
		return nil, h.say("outreach_not_yours", "card", card.ID)
	}
	return card, nil
}

func (h *handling) outreachPrefix() string {
	if f := h.r.flows.Flow(outreachFlow); f != nil {
		return f.Prefix
	}
	return "O"
}

// nextPhoto is the first photo (1-based) not yet checked, or 0.
func nextPhoto(card *store.Card, photos []string) int {
	for i := range photos {
		if card.Fields[postPhotoField(i+1)] == "" {
			return i + 1
		}
	}
	return 0
}

// checkedPhotos are the copies fit to post, in order.
func checkedPhotos(card *store.Card, photos []string) []string {
	var out []string
	for i := range photos {
		if p := card.Fields[postPhotoField(i+1)]; p != "" && p != leftOut {
			out = append(out, p)
		}
	}
	return out
}

type preview struct {
	n     int
	cells string
	path  string
}

func previewOf(card *store.Card) (preview, bool) {
	parts := strings.SplitN(card.Fields[previewField], "|", 3)
	if len(parts) != 3 {
		return preview{}, false
	}
	n, err := strconv.Atoi(parts[0])
	return preview{n: n, cells: parts[1], path: parts[2]}, err == nil
}

// cmdBlur walks the outreach volunteer through the photos of the card they
// hold, one at a time: /blur shows the next with its numbered squares;
// /blur 1 4 5 (or none, or all) makes a preview from the original;
// /blur ok keeps the preview; /blur drop leaves the photo out.
func (h *handling) cmdBlur(args string) error {
	id, rest := cardArg(args)
	card, err := h.outreachCardFor(id)
	if card == nil || err != nil {
		return err
	}
	photos := splitLines(card.Fields[photosField])
	n := nextPhoto(card, photos)
	if n == 0 {
		return h.blurDone(card, photos)
	}
	word := strings.ToLower(strings.Trim(strings.TrimSpace(rest), ".!"))
	switch word {
	case "":
		if p, ok := previewOf(card); ok && p.n == n {
			return h.sendPreview(card, p, len(photos))
		}
		return h.sendGrid(card, photos, n)
	case "ok", "okay", "yes", "keep", "done", "ठीक", "ठीक है", "haan", "हाँ":
		p, ok := previewOf(card)
		if !ok || p.n != n {
			if err := h.say("blur_nothing_to_keep", "card", card.ID, "n", n); err != nil {
				return err
			}
			return h.sendGrid(card, photos, n)
		}
		card.Fields[postPhotoField(n)] = p.path
		delete(card.Fields, previewField)
		what := fmt.Sprintf("photo %d of %d checked: no face", n, len(photos))
		if p.cells != "" {
			what = fmt.Sprintf("photo %d of %d checked: squares %s blurred", n, len(photos), p.cells)
		}
		return h.nextOrDone(card, photos, what)
	case "drop", "skip", "leave", "leave out", "remove":
		card.Fields[postPhotoField(n)] = leftOut
		delete(card.Fields, previewField)
		return h.nextOrDone(card, photos, fmt.Sprintf("photo %d of %d left out", n, len(photos)))
	}
	cells, ok := parseCells(word)
	if !ok {
		return h.say("blur_usage", "card", card.ID)
	}
	dir, err := h.outreachDir(card)
	if err != nil {
		return err
	}
	img, err := workingPhoto(dir, photos, n)
	if err != nil {
		return h.unreadable(card, photos, n, err)
	}
	names := make([]string, len(cells))
	for i, c := range cells {
		names[i] = strconv.Itoa(c)
	}
	tag := strings.Join(names, "")
	if tag == "" {
		tag = "none"
	}
	path := filepath.Join(dir, fmt.Sprintf("photo-%d-blur-%s%s", n, tag, postExt(photos[n-1])))
	if err := savePhoto(blurCells(img, cells), path); err != nil {
		return fmt.Errorf("%s photo %d: %w", card.ID, n, err)
	}
	p := preview{n: n, cells: strings.Join(names, " "), path: path}
	card.Fields[previewField] = fmt.Sprintf("%d|%s|%s", p.n, p.cells, p.path)
	card.Updated = h.now
	if err := h.tx.SaveCard(card); err != nil {
		return err
	}
	return h.sendPreview(card, p, len(photos))
}

// workingPhoto is photo n, the right way up and at most maxPostSide, read
// from a working copy kept beside the card's other outreach files: the
// original (perhaps 12 megapixels) is decoded once, not at every /blur.
// The working copy has no faces blurred and, like the original, is never
// sent.
func workingPhoto(dir string, photos []string, n int) (image.Image, error) {
	work := filepath.Join(dir, fmt.Sprintf("photo-%d-work%s", n, postExt(photos[n-1])))
	if img, err := imaging.Open(work); err == nil {
		return img, nil
	}
	img, err := loadPhoto(photos[n-1])
	if err != nil {
		return nil, err
	}
	return img, savePhoto(img, work)
}

// nextOrDone records a photo's outcome and shows the next photo, or
// finishes.
func (h *handling) nextOrDone(card *store.Card, photos []string, what string) error {
	card.Updated = h.now
	if err := h.tx.SaveCard(card); err != nil {
		return err
	}
	if err := h.event(card, card.Stage, card.Stage, what); err != nil {
		return err
	}
	if n := nextPhoto(card, photos); n != 0 {
		return h.sendGrid(card, photos, n)
	}
	return h.blurDone(card, photos)
}

// unreadable leaves out a photo that cannot be opened and goes on.
func (h *handling) unreadable(card *store.Card, photos []string, n int, cause error) error {
	h.r.log.Warn("outreach photo unreadable", "card", card.ID, "photo", n, "err", cause)
	card.Fields[postPhotoField(n)] = leftOut
	delete(card.Fields, previewField)
	if err := h.say("blur_unreadable", "card", card.ID, "n", n); err != nil {
		return err
	}
	return h.nextOrDone(card, photos, fmt.Sprintf("photo %d of %d cannot be opened; left out", n, len(photos)))
}

// sendGrid sends photo n with its numbered squares and asks which show a
// face.
func (h *handling) sendGrid(card *store.Card, photos []string, n int) error {
	dir, err := h.outreachDir(card)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("photo-%d-grid%s", n, postExt(photos[n-1])))
	if _, err := os.Stat(path); err != nil {
		img, err := workingPhoto(dir, photos, n)
		if err != nil {
			return h.unreadable(card, photos, n, err)
		}
		if err := savePhoto(gridView(img), path); err != nil {
			return fmt.Errorf("%s photo %d grid: %w", card.ID, n, err)
		}
	}
	text := h.catalog().Get(h.lang, "blur_grid", "card", card.ID, "n", n, "of", len(photos))
	return h.send(Outgoing{Text: text, Image: path})
}

func (h *handling) sendPreview(card *store.Card, p preview, of int) error {
	key, cells := "blur_preview", p.cells
	if cells == "" {
		key = "blur_preview_none"
	}
	text := h.catalog().Get(h.lang, key, "card", card.ID, "n", p.n, "of", of, "cells", cells)
	return h.send(Outgoing{Text: text, Image: p.path})
}

// blurDone says every photo is checked. When the sender is at this card's
// photo question, it settles the caption they gave, sends them the checked
// photos and the caption to post, and answers the question with the checked
// copies, so the link comes next.
func (h *handling) blurDone(card *store.Card, photos []string) error {
	checked := checkedPhotos(card, photos)
	if h.st.Card == card.ID && h.st.Stage == card.Stage {
		if q := h.currentQuestion(); q != nil && q.Type == flows.TypePhoto {
			if err := h.say("blur_all_done", "card", card.ID, "n", len(checked), "of", len(photos)); err != nil {
				return err
			}
			if err := h.settleCaption(card, h.st.Answers["caption"]); err != nil {
				return err
			}
			card.Updated = h.now
			if err := h.tx.SaveCard(card); err != nil {
				return err
			}
			if err := h.sendPostKit(h.who, card); err != nil {
				return err
			}
			in := flows.Input{Photos: checked}
			if len(in.Photos) == 0 {
				in.Photos = []string{leftOut}
			}
			return h.step(in)
		}
	}
	return h.say("blur_all_done_next", "card", card.ID, "n", len(checked), "of", len(photos))
}

// currentQuestion is the question the sender's conversation waits on.
func (h *handling) currentQuestion() *flows.Question {
	f := h.r.flows.Flow(h.st.Flow)
	if f == nil || h.st.Stage == "" {
		return nil
	}
	st := f.Stage(h.st.Stage)
	if st == nil || h.st.Q >= len(st.Questions) {
		return nil
	}
	return st.Questions[h.st.Q]
}

// settleCaption sets the caption to post from the volunteer's answer: ok
// (or nothing) keeps the drafted captions; their own is kept unless it
// names someone the card's deliveries went to, gives a phone number or an
// address, and then the drafted one is used and they are told why.
func (h *handling) settleCaption(card *store.Card, own string) error {
	own = strings.TrimSpace(own)
	card.Fields["post_caption_en"], card.Fields["post_caption_hi"] = card.Fields["caption_en"], card.Fields["caption_hi"]
	if own == "" || isOKWord(own) {
		return nil
	}
	found, err := h.captionPII(card, own)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		card.Fields["post_caption_en"], card.Fields["post_caption_hi"] = own, own
		return nil
	}
	if err := h.event(card, card.Stage, card.Stage, "own caption not used: it named who was helped"); err != nil {
		return err
	}
	if h.who == nil {
		return nil
	}
	return h.say("outreach_caption_pii", "found", strings.Join(found, ", "))
}

func isOKWord(s string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(s), ".!")) {
	case "ok", "okay", "yes", "y", "fine", "good", "ठीक", "ठीक है", "हाँ", "haan", "theek":
		return true
	}
	return false
}

// phoneLike finds Indian mobile numbers written any usual way.
var phoneLike = regexp.MustCompile(`(?:\+?91[\s-]?|0)?[6-9](?:[\s-]?[0-9]){9}`)

// captionPII lists what a caption gives away of the people the card's
// deliveries went to: a phone number, a name, a house number or an address.
func (h *handling) captionPII(card *store.Card, caption string) ([]string, error) {
	var found []string
	low := strings.ToLower(caption)
	if m := phoneLike.FindString(caption); m != "" {
		found = append(found, m)
	}
	for _, id := range strings.Fields(card.Fields["from"]) {
		req, err := h.tx.Card(id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, part := range strings.Fields(req.Fields["name"]) {
			if utf8.RuneCountInString(part) >= 3 && containsWord(low, strings.ToLower(part)) {
				found = append(found, part)
			}
		}
		addr := strings.ToLower(strings.TrimSpace(req.Fields["address"]))
		if addr != "" && strings.Contains(low, addr) {
			found = append(found, req.Fields["address"])
		}
		for _, tok := range strings.FieldsFunc(req.Fields["address"], func(r rune) bool { return r == ' ' || r == ',' }) {
			if strings.ContainsAny(tok, "0123456789") && containsWord(low, strings.ToLower(tok)) {
				found = append(found, tok)
			}
		}
		if p := req.Fields["phone"]; p != "" && strings.Contains(strings.ReplaceAll(caption, " ", ""), p) {
			found = append(found, p)
		}
	}
	slices.Sort(found)
	return slices.Compact(found), nil
}

// containsWord reports whether w appears in s as a whole word.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(w)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			return true
		}
		i = start + 1
	}
}

func isWordRune(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f && r != '।'
}

// sendPostKit sends c the checked photos and the caption to post, and says
// which photos are not checked yet.
func (h *handling) sendPostKit(c *store.Contact, card *store.Card) error {
	lang := langOf(c, h.r.lang)
	photos := splitLines(card.Fields[photosField])
	checked := checkedPhotos(card, photos)
	for i, p := range checked {
		if err := h.sendTo(c, Outgoing{Image: p, Text: h.catalog().Get(lang, "outreach_kit_photo", "card", card.ID, "n", i+1, "of", len(checked))}); err != nil {
			return err
		}
	}
	caption := card.Fields["post_caption_en"]
	if card.Fields["post_caption_hi"] != caption {
		caption += "\n\n" + card.Fields["post_caption_hi"]
	}
	text := h.catalog().Get(lang, "outreach_kit", "card", card.ID, "n", len(checked)) + "\n\n" + caption
	if missing := nextPhoto(card, photos); missing != 0 {
		text += "\n\n" + h.catalog().Get(lang, "outreach_kit_unchecked", "card", card.ID, "n", len(photos)-len(checked))
	}
	return h.sendTo(c, Outgoing{Text: text})
}

// cmdOutreach shows the outreach card the sender holds: in the draft, how
// far the photos are; once ready, the photos and caption to post again.
func (h *handling) cmdOutreach(args string) error {
	id, _ := cardArg(args)
	card, err := h.outreachCardFor(id)
	if card == nil || err != nil {
		return err
	}
	if card.Fields["post_caption_en"] != "" {
		return h.sendPostKit(h.who, card)
	}
	photos := splitLines(card.Fields[photosField])
	return h.say("outreach_draft_state", "card", card.ID, "n", len(checkedPhotos(card, photos)), "of", len(photos),
		"en", card.Fields["caption_en"], "hi", card.Fields["caption_hi"])
}

// sharePost is the share_post action, on the route of a post made:
// everyone who asked for updates gets the post (its first checked photo,
// the caption in their language and the link) on their chat. Only checked
// copies are ever sent: a photo the volunteer sent instead of using /blur
// is kept with the originals and goes nowhere.
func sharePost(h *handling, card *store.Card) error {
	photos := splitLines(card.Fields[photosField])
	checked := checkedPhotos(card, photos)
	for _, p := range splitLines(card.Fields[postPhotosQ]) {
		if p != leftOut && !slices.Contains(checked, p) && !slices.Contains(photos, p) {
			photos = append(photos, p)
		}
	}
	card.Fields[photosField] = strings.Join(photos, "\n")
	card.Fields[postPhotosQ] = strings.Join(checked, "\n")
	if card.Fields["post_caption_en"] == "" {
		if err := h.settleCaption(card, card.Fields["caption"]); err != nil {
			return err
		}
	}
	link := strings.TrimSpace(card.Fields["link"])
	people, err := h.tx.UpdateRecipients()
	if err != nil {
		return err
	}
	photo := ""
	if len(checked) > 0 {
		photo = checked[0]
	}
	for _, p := range people {
		lang := langOf(p, h.r.lang)
		caption := card.Fields["post_caption_"+lang]
		if caption == "" {
			caption = card.Fields["post_caption_en"]
		}
		text := h.catalog().Get(lang, "outreach_update", "caption", caption, "link", link)
		if err := h.sendTo(p, Outgoing{Text: text, Image: photo}); err != nil {
			return err
		}
	}
	card.Fields["shared_with"] = strconv.Itoa(len(people))
	return h.event(card, card.Stage, card.Stage, fmt.Sprintf("posted: %s; sent to %d who asked for updates", clip(link, 200), len(people)))
}
