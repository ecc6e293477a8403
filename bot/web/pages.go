package web

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// layout is what every page shows around its content.
type layout struct {
	Title  string
	Viewer string
	CSRF   string
	Nav    []link
}

type link struct {
	Label, Href string
	Active      bool
}

// option is one entry of a <select>.
type option struct {
	Value, Label string
	Selected     bool
}

func (s *Server) layoutFor(v *viewer, title, active string) layout {
	l := layout{Title: title, Viewer: v.contact.Name, CSRF: v.csrf}
	if l.Viewer == "" {
		l.Viewer = v.contact.Key()
	}
	l.Nav = append(l.Nav, link{Label: "Dashboard", Href: "/board", Active: active == ""})
	for _, f := range s.flows.Flows {
		l.Nav = append(l.Nav, link{Label: f.Title.In(v.lang), Href: "/board/cards?flow=" + url.QueryEscape(f.ID), Active: active == f.ID})
	}
	return l
}

// shortAge writes a duration the way people say it: 5m, 3h, 2d.
func shortAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 0:
		return "0m"
	default:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
}

func (s *Server) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.loc).Format("2 Jan 15:04")
}

// isStale says whether a card has been in its stage longer than the stage's
// stale_after.
func isStale(st *flows.Stage, entered, now time.Time) bool {
	return st != nil && !st.Final && st.StaleAfter > 0 && now.Sub(entered) >= time.Duration(st.StaleAfter)
}

// dashboardPage is the /status numbers, stock and charts.
type dashboardPage struct {
	layout
	Now        string
	Flows      []flowStatus
	Stock      []store.StockLevel
	Charts     []chart
	ExportFrom string
	ExportTo   string
}

type flowStatus struct {
	ID, Title, Prefix, Href string
	Open, Stale             int
	Stages                  []stageStatus
}

type stageStatus struct {
	ID, Title, Href string
	Open, Held      int
	Stale           int
	StaleMore       bool // Stale is capped
	Oldest          string
}

// chartDays is how many days the charts show, today included.
const chartDays = 14

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, v *viewer) {
	now := s.backend.Now()
	p := dashboardPage{layout: s.layoutFor(v, "Dashboard", ""), Now: s.when(now)}
	today := midnight(now.In(s.loc))
	p.ExportFrom = today.AddDate(0, 0, -29).Format(time.DateOnly)
	p.ExportTo = today.Format(time.DateOnly)
	err := s.st.Tx(r.Context(), func(tx *store.Tx) error {
		var qs []store.StageQuery
		for _, f := range s.flows.Flows {
			for _, st := range f.Stages {
				if st.Final {
					continue
				}
				q := store.StageQuery{Flow: f.ID, Stage: st.ID}
				if st.StaleAfter > 0 {
					q.StaleBefore = now.Add(-time.Duration(st.StaleAfter))
				}
				qs = append(qs, q)
			}
		}
		stats, err := tx.Board(qs)
		if err != nil {
			return err
		}
		byStage := map[[2]string]store.StageStat{}
		for _, st := range stats {
			byStage[[2]string{st.Flow, st.Stage}] = st
		}
		for _, f := range s.flows.Flows {
			fs := flowStatus{ID: f.ID, Title: f.Title.In(v.lang), Prefix: f.Prefix, Href: "/board/cards?flow=" + url.QueryEscape(f.ID)}
			for _, st := range f.Stages {
				if st.Final {
					continue
				}
				c := byStage[[2]string{f.ID, st.ID}]
				ss := stageStatus{ID: st.ID, Title: st.Title.In(v.lang), Open: c.Open, Held: c.Held, Stale: c.Stale,
					StaleMore: c.Stale >= store.StaleCap, Href: fs.Href}
				if !c.Oldest.IsZero() {
					ss.Oldest = shortAge(now.Sub(c.Oldest))
				}
				fs.Open += c.Open
				fs.Stale += c.Stale
				fs.Stages = append(fs.Stages, ss)
			}
			p.Flows = append(p.Flows, fs)
		}
		if p.Stock, err = tx.StockLevels(); err != nil {
			return err
		}
		p.Charts, err = s.charts(tx, today)
		return err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", p)
}

func midnight(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

// The flows and stage the charts count.
const (
	requestFlow    = "request"
	donationFlow   = "donation"
	deliveredStage = "delivered"
)

// charts counts requests, deliveries and donations per day over the last
// chartDays days.
func (s *Server) charts(tx *store.Tx, today time.Time) ([]chart, error) {
	days := make([]time.Time, chartDays)
	for i := range days {
		days[i] = today.AddDate(0, 0, i-chartDays+1)
	}
	from, to := days[0], today.AddDate(0, 0, 1)
	series := func(flow, stage, field string, sum bool) ([]float64, error) {
		per, err := tx.PerDay(flow, stage, field, from, to, s.loc)
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(days))
		for i, d := range days {
			t := per[d.Format(time.DateOnly)]
			out[i] = float64(t.N)
			if sum {
				out[i] = t.Sum
			}
		}
		return out, nil
	}
	var out []chart
	if f := s.flows.Flow(requestFlow); f != nil {
		reqs, err := series(f.ID, "", "", false)
		if err != nil {
			return nil, err
		}
		out = append(out, barChart("requests", "Requests per day", "requests", days, reqs, formatCount))
		if f.Stage(deliveredStage) != nil {
			dels, err := series(f.ID, deliveredStage, "", false)
			if err != nil {
				return nil, err
			}
			out = append(out, barChart("deliveries", "Deliveries per day", "deliveries", days, dels, formatCount))
		}
	}
	if f := s.flows.Flow(donationFlow); f != nil {
		rupees, err := series(f.ID, "", "amount", true)
		if err != nil {
			return nil, err
		}
		out = append(out, barChart("donations", "Donations per day (₹)", "₹", days, rupees, formatRupees))
	}
	return out, nil
}

// boardPage is the kanban view of one flow.
type boardPage struct {
	layout
	FlowID, FlowTitle string
	Flows             []option
	Areas             []option
	Holders           []option
	Stale             bool
	Columns           []column
	Shown, Total      int
	Filtered          bool
}

type column struct {
	ID, Title string
	Final     bool
	Count     int    // cards shown
	Note      string // for a final stage: how many arrived lately
	Cards     []cardTile
}

type cardTile struct {
	ID, Href string
	Age      string
	Holder   string
	Stale    bool
	Locality string
	Summary  string
}

// columnLimit bounds the cards read per column; a longer queue shows its
// first cards, oldest first.
const columnLimit = 500

// summaryFields are shown on a card's tile when present: numbers, never
// personal data.
var summaryFields = []string{"families", "people", "kits", "kits_given", "amount"}

func (s *Server) cards(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := r.URL.Query()
	f := s.flows.Flow(q.Get("flow"))
	if f == nil {
		if q.Get("flow") != "" || len(s.flows.Flows) == 0 {
			s.fail(w, r, http.StatusNotFound, "There is no such flow.")
			return
		}
		f = s.flows.Flows[0]
	}
	area, holder, onlyStale := q.Get("area"), q.Get("holder"), q.Get("stale") == "1"
	now := s.backend.Now()
	p := boardPage{layout: s.layoutFor(v, f.Title.In(v.lang), f.ID), FlowID: f.ID, FlowTitle: f.Title.In(v.lang), Stale: onlyStale,
		Filtered: area != "" || holder != "" || onlyStale}
	for _, o := range s.flows.Flows {
		p.Flows = append(p.Flows, option{Value: o.ID, Label: o.Title.In(v.lang), Selected: o.ID == f.ID})
	}
	areas := map[string]bool{}
	holders := map[int64]string{}
	err := s.st.Tx(r.Context(), func(tx *store.Tx) error {
		names := map[int64]string{}
		name := func(id int64) string {
			if n, ok := names[id]; ok {
				return n
			}
			n := "#" + strconv.FormatInt(id, 10)
			if c, err := tx.ContactByID(id); err == nil && c.Name != "" {
				n = c.Name
			}
			names[id] = n
			return n
		}
		var arrived map[string]int
		for _, st := range f.Stages {
			col := column{ID: st.ID, Title: st.Title.In(v.lang), Final: st.Final}
			if st.Final {
				if arrived == nil {
					moves, err := tx.MovesBetween(f.Prefix, now.AddDate(0, 0, -7), now)
					if err != nil {
						return err
					}
					arrived = map[string]int{}
					for _, m := range moves {
						arrived[m.To] += m.N
					}
				}
				col.Note = fmt.Sprintf("%d in the last 7 days", arrived[st.ID])
				p.Columns = append(p.Columns, col)
				continue
			}
			queue, err := tx.Queue(f.ID, st.ID, columnLimit)
			if err != nil {
				return err
			}
			for _, c := range queue {
				p.Total++
				loc := store.Locality(c.Fields)
				if loc != "" {
					areas[loc] = true
				}
				if c.Assignee != 0 {
					holders[c.Assignee] = name(c.Assignee)
				}
				stale := isStale(st, c.StageEntered, now)
				switch {
				case area != "" && loc != area,
					onlyStale && !stale,
					holder == "none" && c.Assignee != 0,
					holder != "" && holder != "none" && strconv.FormatInt(c.Assignee, 10) != holder:
					continue
				}
				t := cardTile{ID: c.ID, Href: "/board/card/" + url.PathEscape(c.ID), Age: shortAge(now.Sub(c.StageEntered)),
					Stale: stale, Locality: loc, Summary: summary(c.Fields)}
				if c.Assignee != 0 {
					t.Holder = name(c.Assignee)
				}
				col.Cards = append(col.Cards, t)
			}
			col.Count = len(col.Cards)
			p.Shown += col.Count
			p.Columns = append(p.Columns, col)
		}
		return nil
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	p.Areas = append(p.Areas, option{Value: "", Label: "any area", Selected: area == ""})
	for _, a := range sortedKeys(areas) {
		p.Areas = append(p.Areas, option{Value: a, Label: a, Selected: a == area})
	}
	if area != "" && !areas[area] {
		p.Areas = append(p.Areas, option{Value: area, Label: area, Selected: true})
	}
	p.Holders = append(p.Holders, option{Value: "", Label: "anyone or nobody", Selected: holder == ""},
		option{Value: "none", Label: "nobody (waiting)", Selected: holder == "none"})
	ids := make([]int64, 0, len(holders))
	for id := range holders {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return holders[ids[i]] < holders[ids[j]] })
	for _, id := range ids {
		val := strconv.FormatInt(id, 10)
		p.Holders = append(p.Holders, option{Value: val, Label: holders[id], Selected: val == holder})
	}
	s.render(w, r, http.StatusOK, "cards", p)
}

func summary(fields map[string]string) string {
	var parts []string
	for _, k := range summaryFields {
		if v := strings.TrimSpace(fields[k]); v != "" && len(v) <= 12 {
			parts = append(parts, strings.ReplaceAll(k, "_", " ")+" "+v)
		}
	}
	return strings.Join(parts, " · ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cardPage is one card with its fields and history.
type cardPage struct {
	layout
	ID, FlowID        string
	FlowTitle         string
	Stage, StageTitle string
	Open, Stale       bool
	StaleAfter        string
	Since, Age        string
	Holder, Until     string
	Requester         string
	PII               bool
	Fields            []field
	History           []historyLine
	Stages            []option
	Moved, Error      string
}

type field struct {
	Key, Value string
	Masked     bool
}

type historyLine struct {
	When, Actor, Move, What string
}

func (s *Server) card(w http.ResponseWriter, r *http.Request, v *viewer) {
	p, err := s.cardPage(r, v, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "There is no card "+strings.ToUpper(r.PathValue("id"))+".")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if moved := r.URL.Query().Get("moved"); moved != "" {
		p.Moved = p.StageTitle
	}
	s.render(w, r, http.StatusOK, "card", p)
}

func (s *Server) cardPage(r *http.Request, v *viewer, id string) (cardPage, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	now := s.backend.Now()
	var p cardPage
	err := s.st.Tx(r.Context(), func(tx *store.Tx) error {
		c, err := tx.Card(id)
		if err != nil {
			return err
		}
		events, err := tx.Events(c.ID)
		if err != nil {
			return err
		}
		f := s.flows.Flow(c.Flow)
		var st *flows.Stage
		p = cardPage{layout: s.layoutFor(v, c.ID, c.Flow), ID: c.ID, FlowID: c.Flow, FlowTitle: c.Flow, Stage: c.Stage, StageTitle: c.Stage, Open: c.Open,
			Since: s.when(c.StageEntered), Age: shortAge(now.Sub(c.StageEntered)), PII: v.canSeePII(c)}
		if f != nil {
			p.FlowTitle = f.Title.In(v.lang)
			if st = f.Stage(c.Stage); st != nil {
				p.StageTitle = st.Title.In(v.lang)
				if st.StaleAfter > 0 {
					p.StaleAfter = shortAge(time.Duration(st.StaleAfter))
				}
			}
			for _, o := range f.Stages {
				if o.ID != c.Stage {
					p.Stages = append(p.Stages, option{Value: o.ID, Label: o.Title.In(v.lang) + " (" + o.ID + ")"})
				}
			}
		}
		p.Stale = c.Open && isStale(st, c.StageEntered, now)
		if c.Assignee != 0 {
			if h, err := tx.ContactByID(c.Assignee); err == nil {
				p.Holder = h.Name
				p.Until = s.when(c.LeaseUntil)
			}
		}
		requesterKey := ""
		if c.Requester != 0 {
			if q, err := tx.ContactByID(c.Requester); err == nil {
				requesterKey = q.Key()
				if p.PII {
					p.Requester = strings.TrimSpace(q.Name + " " + q.Phone)
				}
			}
		}
		keys := make([]string, 0, len(c.Fields))
		for k := range c.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val := c.Fields[k]
			if val == "" {
				continue
			}
			masked := !p.PII && slices.Contains(s.pii, k)
			if masked {
				val = "•••"
			}
			p.Fields = append(p.Fields, field{Key: k, Value: val, Masked: masked})
		}
		for _, e := range events {
			h := historyLine{When: s.when(e.At), Actor: e.Actor, What: e.What}
			if !p.PII {
				// The actor is "tg:123 Name": a volunteer's name is kept, the
				// requester's is not.
				if key, name, ok := strings.Cut(e.Actor, " "); ok {
					h.Actor = name
					if key == requesterKey {
						h.Actor = "the requester"
					}
				}
			}
			switch {
			case e.From == "" && e.To != "":
				h.Move = "→ " + e.To
			case e.From != e.To:
				h.Move = e.From + " → " + e.To
			}
			p.History = append(p.History, h)
		}
		return nil
	})
	return p, err
}

// maxForm bounds a posted form.
const maxForm = 8 << 10

func (s *Server) move(w http.ResponseWriter, r *http.Request, v *viewer) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !s.checkCSRF(r, v) {
		s.fail(w, r, http.StatusForbidden, "This form has expired or did not come from the board. Go back, reload the page and try again.")
		return
	}
	id := strings.ToUpper(r.PathValue("id"))
	stage := r.PostFormValue("stage")
	err := s.backend.MoveCard(r.Context(), id, stage, v.contact.Key())
	if err == nil {
		s.log.Info("card moved on the board", "card", id, "stage", stage, "by", v.contact.Key())
		http.Redirect(w, r, "/board/card/"+url.PathEscape(id)+"?moved=1", http.StatusSeeOther)
		return
	}
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case !errors.Is(err, ErrBadMove):
		s.internal(w, r, err)
		return
	}
	p, perr := s.cardPage(r, v, id)
	if perr != nil {
		s.fail(w, r, status, err.Error())
		return
	}
	p.Error = err.Error()
	s.render(w, r, status, "card", p)
}

// exportZip serves the open-data export of ?from=2026-04-01&to=2026-04-30
// (both days included; default: the last 30 days) as a zip archive.
func (s *Server) exportZip(w http.ResponseWriter, r *http.Request, v *viewer) {
	today := midnight(s.backend.Now().In(s.loc))
	from, to := today.AddDate(0, 0, -29), today
	var err error
	if q := r.URL.Query().Get("from"); q != "" {
		if from, err = time.ParseInLocation(time.DateOnly, q, s.loc); err != nil {
			s.fail(w, r, http.StatusBadRequest, "from: write the day as 2026-04-01.")
			return
		}
	}
	if q := r.URL.Query().Get("to"); q != "" {
		if to, err = time.ParseInLocation(time.DateOnly, q, s.loc); err != nil {
			s.fail(w, r, http.StatusBadRequest, "to: write the day as 2026-04-30.")
			return
		}
	}
	if to.Before(from) {
		s.fail(w, r, http.StatusBadRequest, "The period ends before it begins.")
		return
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	modified := s.backend.Now()
	_, err = s.st.Export(r.Context(), store.ExportOptions{From: from, To: to.AddDate(0, 0, 1), Loc: s.loc},
		func(name string) (io.Writer, error) {
			return zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modified})
		})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("open data exported", "from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly), "by", v.contact.Key())
	name := fmt.Sprintf("sewa-open-data-%s-to-%s.zip", from.Format(time.DateOnly), to.Format(time.DateOnly))
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}
