package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Secrets: random values made once and kept in the database, so they
// survive restarts and travel with backups — the open-data export's salt,
// the board's signing key and each coordinator's link generation.
//
// The table comes from migration 0006.

// SecretSize is the length of every secret, in bytes.
const SecretSize = 32

// Secret returns the secret called name, making a random one on first use.
func (t *Tx) Secret(name string) ([]byte, error) {
	var v []byte
	err := t.queryRow(`SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return t.RotateSecret(name)
}

// RotateSecret replaces the secret called name with a new random one, so
// everything signed with the old one stops being valid.
func (t *Tx) RotateSecret(name string) ([]byte, error) {
	v := make([]byte, SecretSize)
	rand.Read(v) // never fails (crypto/rand since Go 1.24)
	_, err := t.exec(`INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return v, nil
}

// Secret returns the secret called name, making it on first use.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.Tx(ctx, func(tx *Tx) error {
		var err error
		v, err = tx.Secret(name)
		return err
	})
	return v, err
}

// Open data. Export writes what the group did in a period as CSV files
// anyone may read, with nothing that points at a person:
//
//   - no names, phones, addresses, PANs, UPI ids, bank references, photos,
//     free-text notes or who did what;
//   - card ids replaced by stable salted hashes (HMAC-SHA256 with a secret
//     kept in the database, "export_salt"): the same card has the same hash
//     in every file and every export, and nobody without the database can
//     turn a hash back into an id;
//   - places only as a locality (see Locality), and a locality shared by
//     fewer than MinGroup requests of the export becomes "other";
//   - times only as dates; amounts, counts of families, people and kits kept.

// Export file names.
const (
	ExportRequests    = "requests.csv"
	ExportDeliveries  = "deliveries.csv"
	ExportDonations   = "donations.csv"
	ExportStock       = "stock_ledger.csv"
	ExportDataPackage = "datapackage.json"
)

// ExportOptions says what to export.
type ExportOptions struct {
	From, To time.Time      // the period, [From, To)
	Loc      *time.Location // dates are written in this zone (default UTC)
	// MinGroup: a locality shared by fewer requests than this becomes
	// "other" (default 3).
	MinGroup int
	// The flows and stage the files are made of (defaults: "request",
	// "donation" and "delivered").
	RequestFlow, DonationFlow, DeliveredStage string
}

// ExportSummary counts the rows written to each file.
type ExportSummary struct {
	Requests, Deliveries, Donations, Stock int
	Files                                  []string // in the order written
}

// Export writes the open-data files of a period, one call of create per file
// (a directory or a zip archive). It reads one consistent snapshot of the
// database without holding the write lock.
func (s *Store) Export(ctx context.Context, opt ExportOptions, create func(name string) (io.Writer, error)) (ExportSummary, error) {
	var sum ExportSummary
	if !opt.From.Before(opt.To) {
		return sum, fmt.Errorf("export: the period is empty (%s to %s)", opt.From.Format(time.DateOnly), opt.To.Format(time.DateOnly))
	}
	if opt.Loc == nil {
		opt.Loc = time.UTC
	}
	if opt.MinGroup <= 0 {
		opt.MinGroup = 3
	}
	if opt.RequestFlow == "" {
		opt.RequestFlow = "request"
	}
	if opt.DonationFlow == "" {
		opt.DonationFlow = "donation"
	}
	if opt.DeliveredStage == "" {
		opt.DeliveredStage = "delivered"
	}
	salt, err := s.Secret(ctx, "export_salt")
	if err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	x := &exporter{opt: opt, salt: salt}
	err = s.readSnapshot(ctx, func(q *sql.Conn) error { return x.read(ctx, q) })
	if err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	x.suppressRareLocalities()
	files := []struct {
		name string
		rows [][]string
		n    *int
	}{
		{ExportRequests, x.requests, &sum.Requests},
		{ExportDeliveries, x.deliveries, &sum.Deliveries},
		{ExportDonations, x.donations, &sum.Donations},
		{ExportStock, x.stock, &sum.Stock},
	}
	for _, f := range files {
		w, err := create(f.name)
		if err != nil {
			return sum, fmt.Errorf("export: %s: %w", f.name, err)
		}
		cw := csv.NewWriter(w)
		cw.Write(exportColumnNames(f.name))
		cw.WriteAll(f.rows)
		if err := cw.Error(); err != nil {
			return sum, fmt.Errorf("export: %s: %w", f.name, err)
		}
		*f.n = len(f.rows)
		sum.Files = append(sum.Files, f.name)
	}
	w, err := create(ExportDataPackage)
	if err != nil {
		return sum, fmt.Errorf("export: %s: %w", ExportDataPackage, err)
	}
	if err := x.writeDataPackage(w); err != nil {
		return sum, fmt.Errorf("export: %s: %w", ExportDataPackage, err)
	}
	sum.Files = append(sum.Files, ExportDataPackage)
	return sum, nil
}

// readSnapshot runs fn in one read transaction on its own connection: a
// consistent view, while writers go on (WAL).
func (s *Store) readSnapshot(ctx context.Context, fn func(*sql.Conn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	begin := `BEGIN`
	if s.pg { // each statement would otherwise see the latest commits
		begin = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return err
	}
	err = fn(conn)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
		// Never hand a connection still inside a transaction back to the pool.
		conn.Raw(func(any) error { return driver.ErrBadConn })
		if err == nil {
			err = rerr
		}
	}
	return err
}

// exportColumn is one column of an export file, as datapackage.json
// describes it.
type exportColumn struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
}

var exportColumns = map[string][]exportColumn{
	ExportRequests: {
		{"request", "string", "the request, as a salted hash of its id (the same in every file and every export)"},
		{"created", "date", "the day the request was made"},
		{"locality", "string", "the area named in the request (see the package description); \"other\" for an area with few requests, empty when unknown"},
		{"families", "integer", "families the request is for, as the requester said"},
		{"people", "integer", "people in those families, as the requester said"},
		{"kits_approved", "integer", "kits approved by the volunteer who called the requester"},
		{"status", "string", "open, or how the request ended (delivered, rejected)"},
		{"stage", "string", "the stage the request is in now"},
		{"delivered", "date", "the day the kits were delivered, if they were"},
		{"days_to_delivery", "integer", "whole days from the request to the delivery"},
		{"kits_delivered", "integer", "kits handed over"},
	},
	ExportDeliveries: {
		{"delivered", "date", "the day of the delivery"},
		{"request", "string", "the request delivered (salted hash, as in requests.csv)"},
		{"locality", "string", "the area delivered to, as in requests.csv"},
		{"families", "integer", "families the request was for"},
		{"people", "integer", "people in those families"},
		{"kits", "integer", "kits handed over"},
		{"days_from_request", "integer", "whole days from the request to this delivery"},
	},
	ExportDonations: {
		{"donation", "string", "the donation, as a salted hash of its id"},
		{"date", "date", "the day the money arrived, as the bank's message says (else the day it was recorded)"},
		{"amount", "number", "rupees received"},
		{"bank", "string", "the receiving bank, when known"},
		{"status", "string", "open, or how the donation ended (receipted, no_receipt)"},
	},
	ExportStock: {
		{"date", "date", "the day of the ledger entry"},
		{"item", "string", "what was counted (kit, ...)"},
		{"location", "string", "the store the stock is in, as a salted hash"},
		{"kind", "string", "received, reserved, released, delivered or adjusted"},
		{"qty", "integer", "the change: on hand for received and adjusted, reserved for reserved and released, both for delivered"},
		{"card", "string", "the request or other card the entry is for (salted hash), if any"},
	},
}

func exportColumnNames(file string) []string {
	cols := exportColumns[file]
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

type exporter struct {
	opt  ExportOptions
	salt []byte

	requests, deliveries, donations, stock [][]string
	// where the locality of each row sits, to suppress rare ones
	localityAt []*string
	localityOf map[string]string // request card id -> locality
}

// Column positions of the locality.
const (
	requestLocalityCol  = 2
	deliveryLocalityCol = 2
)

func (x *exporter) hash(id string) string {
	if id == "" {
		return ""
	}
	m := hmac.New(sha256.New, x.salt)
	m.Write([]byte(id))
	prefix, _, ok := strings.Cut(id, "-")
	if !ok || len(prefix) > 3 {
		prefix = "x"
	}
	return strings.ToLower(prefix) + "-" + hex.EncodeToString(m.Sum(nil))[:12]
}

func (x *exporter) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(x.opt.Loc).Format(time.DateOnly)
}

func (x *exporter) read(ctx context.Context, q *sql.Conn) error {
	from, to := ms(x.opt.From), ms(x.opt.To)
	x.localityOf = map[string]string{}
	// Requests made in the period, with their first delivery.
	rows, err := q.QueryContext(ctx, `SELECT c.id, c.fields, c.stage, c.open, c.created_at,
		(SELECT min(e.at) FROM card_events e WHERE e.card_id = c.id AND e.to_stage = ? AND e.from_stage <> e.to_stage)
		FROM cards c WHERE c.flow = ? AND c.created_at >= ? AND c.created_at < ? ORDER BY c.created_at, c.id`,
		x.opt.DeliveredStage, x.opt.RequestFlow, from, to)
	if err != nil {
		return fmt.Errorf("requests: %w", err)
	}
	err = eachRow(rows, func() error {
		var id, fieldsJSON, stage string
		var open bool
		var created int64
		var delivered sql.NullInt64
		if err := rows.Scan(&id, &fieldsJSON, &stage, &open, &created, &delivered); err != nil {
			return err
		}
		f := parseFields(fieldsJSON)
		status := stage
		if open {
			status = "open"
		}
		var days string
		if delivered.Valid {
			days = strconv.Itoa(int(fromMS(delivered.Int64).Sub(fromMS(created)).Hours() / 24))
		}
		row := []string{x.hash(id), x.date(fromMS(created)), x.locality(id, f), count(f["families"]), count(f["people"]),
			count(f["kits"]), status, stage, x.date(nullMS(delivered)), days, count(f["kits_given"])}
		x.requests = append(x.requests, row)
		x.localityAt = append(x.localityAt, &row[requestLocalityCol])
		return nil
	})
	if err != nil {
		return fmt.Errorf("requests: %w", err)
	}
	// Deliveries made in the period, whenever they were asked for.
	rows, err = q.QueryContext(ctx, `SELECT c.id, c.fields, c.created_at, e.at FROM card_events e JOIN cards c ON c.id = e.card_id
		WHERE c.flow = ? AND e.to_stage = ? AND e.from_stage <> e.to_stage AND e.at >= ? AND e.at < ? ORDER BY e.at, e.id`,
		x.opt.RequestFlow, x.opt.DeliveredStage, from, to)
	if err != nil {
		return fmt.Errorf("deliveries: %w", err)
	}
	err = eachRow(rows, func() error {
		var id, fieldsJSON string
		var created, at int64
		if err := rows.Scan(&id, &fieldsJSON, &created, &at); err != nil {
			return err
		}
		f := parseFields(fieldsJSON)
		days := strconv.Itoa(int(fromMS(at).Sub(fromMS(created)).Hours() / 24))
		row := []string{x.date(fromMS(at)), x.hash(id), x.locality(id, f), count(f["families"]), count(f["people"]), count(f["kits_given"]), days}
		x.deliveries = append(x.deliveries, row)
		x.localityAt = append(x.localityAt, &row[deliveryLocalityCol])
		return nil
	})
	if err != nil {
		return fmt.Errorf("deliveries: %w", err)
	}
	// Donations recorded in the period.
	rows, err = q.QueryContext(ctx, `SELECT id, fields, stage, open, created_at FROM cards
		WHERE flow = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id`, x.opt.DonationFlow, from, to)
	if err != nil {
		return fmt.Errorf("donations: %w", err)
	}
	err = eachRow(rows, func() error {
		var id, fieldsJSON, stage string
		var open bool
		var created int64
		if err := rows.Scan(&id, &fieldsJSON, &stage, &open, &created); err != nil {
			return err
		}
		f := parseFields(fieldsJSON)
		day := x.date(fromMS(created))
		if d, err := time.Parse(time.DateOnly, strings.TrimSpace(f["date"])); err == nil {
			day = d.Format(time.DateOnly)
		}
		status := stage
		if open {
			status = "open"
		}
		x.donations = append(x.donations, []string{x.hash(id), day, amount(f["amount"]), bankName(f["bank"]), status})
		return nil
	})
	if err != nil {
		return fmt.Errorf("donations: %w", err)
	}
	// The stock ledger of the period.
	rows, err = q.QueryContext(ctx, `SELECT at, item, location, kind, qty, coalesce(card_id, '') FROM stock_ledger
		WHERE at >= ? AND at < ? ORDER BY at, id`, from, to)
	if err != nil {
		return fmt.Errorf("stock ledger: %w", err)
	}
	err = eachRow(rows, func() error {
		var at int64
		var item, location, kind, card string
		var qty int
		if err := rows.Scan(&at, &item, &location, &kind, &qty, &card); err != nil {
			return err
		}
		x.stock = append(x.stock, []string{x.date(fromMS(at)), safeWord(item), x.hash("L-" + location), kind, strconv.Itoa(qty), x.hash(card)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("stock ledger: %w", err)
	}
	return nil
}

func eachRow(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

func parseFields(s string) map[string]string {
	var f map[string]string
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return map[string]string{}
	}
	return f
}

// locality gives every row of the same request the same locality.
func (x *exporter) locality(cardID string, f map[string]string) string {
	if l, ok := x.localityOf[cardID]; ok {
		return l
	}
	l := Locality(f)
	x.localityOf[cardID] = l
	return l
}

// suppressRareLocalities replaces each locality shared by fewer than
// MinGroup requests of the export with "other".
func (x *exporter) suppressRareLocalities() {
	n := map[string]int{}
	for _, l := range x.localityOf {
		n[l]++
	}
	for _, p := range x.localityAt {
		if *p != "" && n[*p] < x.opt.MinGroup {
			*p = "other"
		}
	}
}

// count keeps a whole number of families, people or kits; anything else
// (free text) is dropped.
func count(s string) string {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// amount keeps a rupee amount written as a number, with two decimals.
func amount(s string) string {
	v, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

var bankRe = regexp.MustCompile(`^[A-Za-z][A-Za-z .&]{0,23}$`)

// bankName keeps the short name of a bank ("SBI", "HDFC"), nothing longer.
func bankName(s string) string {
	s = strings.TrimSpace(s)
	if !bankRe.MatchString(s) {
		return ""
	}
	return s
}

// safeWord keeps an item name that is one short word ("kit", "rice 5kg");
// anything that could be a note, a UPI id or a number of a person is "other".
func safeWord(s string) string {
	s = strings.TrimSpace(s)
	digits := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			digits++
		}
	}
	if len([]rune(s)) > 30 || digits >= 5 || strings.ContainsAny(s, "@,\n") {
		return "other"
	}
	return s
}

// Locality reduces where a card is to the area it names. Addresses are free
// text, so this is a rule of thumb, documented for whoever reads the data:
//
//   - the card's "area" field when someone filled it in, else its "address";
//   - the first comma-separated part with no digit in it (house, plot,
//     gali and PIN numbers and phone numbers have digits; the intake asks
//     for the area first) other than an area's own number ("Okhla Phase 2",
//     "Sector 15"), no "@" (a UPI id or e-mail) and no word of the
//     person's own name, at most 40 letters long;
//   - in title case with spaces tidied, so "seelampur" and "Seelampur "
//     count as one;
//   - a shared location ("geo:28.6712,77.2834") becomes its 0.01° grid cell
//     ("28.67,77.28"), about a kilometre across.
//
// It returns "" when nothing qualifies. The export then replaces a locality
// shared by fewer than MinGroup requests with "other".
func Locality(fields map[string]string) string {
	own := nameWords(fields["name"], fields["donor_name"], fields["receipt_name"])
	for _, src := range []string{fields["area"], fields["address"]} {
		src = strings.TrimSpace(src)
		if geo, ok := strings.CutPrefix(src, "geo:"); ok {
			if cell := gridCell(geo); cell != "" {
				return cell
			}
			continue
		}
		for _, part := range strings.FieldsFunc(src, func(r rune) bool { return r == ',' || r == '\n' || r == ';' || r == '|' }) {
			if l := localityPart(part, own); l != "" {
				return l
			}
		}
	}
	return ""
}

// numberedArea is a number that names an area rather than a house: "Okhla
// Phase 2", "Sector 15", "Rohini Sec-7".
var numberedArea = regexp.MustCompile(`(?i)\b(?:phase|ph|sector|sec|extension|extn|ext)\.?\s*-?\s*(?:\d{1,3}|[ivx]{1,4})\b`)

func localityPart(part string, own map[string]bool) string {
	words := strings.FieldsFunc(part, func(r rune) bool {
		return unicode.IsSpace(r) || r == '.' || r == '-' || r == '(' || r == ')' || r == '/' || r == '"' || r == '\''
	})
	if len(words) == 0 || strings.ContainsAny(part, "@=+") || strings.IndexFunc(numberedArea.ReplaceAllString(part, ""), unicode.IsDigit) >= 0 {
		return ""
	}
	for i, w := range words {
		if own[strings.ToLower(w)] {
			return ""
		}
		r := []rune(strings.ToLower(w))
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	l := strings.Join(words, " ")
	if len([]rune(l)) > 40 {
		return ""
	}
	return l
}

// nameWords are the words of a person's names, lower case, at least 3 letters.
func nameWords(names ...string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		for _, w := range strings.Fields(strings.ToLower(n)) {
			w = strings.Trim(w, ".,")
			if len([]rune(w)) >= 3 {
				out[w] = true
			}
		}
	}
	return out
}

func gridCell(geo string) string {
	lat, lon, ok := strings.Cut(geo, ",")
	if !ok {
		return ""
	}
	a, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	b, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
	if err1 != nil || err2 != nil || math.Abs(a) > 90 || math.Abs(b) > 180 {
		return ""
	}
	return fmt.Sprintf("%.2f,%.2f", math.Floor(a*100)/100, math.Floor(b*100)/100)
}

// writeDataPackage describes the files as a Frictionless Data Package.
func (x *exporter) writeDataPackage(w io.Writer) error {
	first := x.date(x.opt.From)
	last := x.date(x.opt.To.Add(-time.Millisecond))
	type schema struct {
		Fields     []exportColumn `json:"fields"`
		PrimaryKey string         `json:"primaryKey,omitempty"`
	}
	type resource struct {
		Name        string `json:"name"`
		Path        string `json:"path"`
		Profile     string `json:"profile"`
		Format      string `json:"format"`
		Mediatype   string `json:"mediatype"`
		Encoding    string `json:"encoding"`
		Description string `json:"description"`
		Schema      schema `json:"schema"`
	}
	res := func(file, desc, key string) resource {
		return resource{Name: strings.TrimSuffix(file, ".csv"), Path: file, Profile: "tabular-data-resource", Format: "csv",
			Mediatype: "text/csv", Encoding: "utf-8", Description: desc, Schema: schema{Fields: exportColumns[file], PrimaryKey: key}}
	}
	pkg := struct {
		Profile     string     `json:"profile"`
		Name        string     `json:"name"`
		Title       string     `json:"title"`
		Description string     `json:"description"`
		Temporal    [2]string  `json:"temporal"`
		Resources   []resource `json:"resources"`
	}{
		Profile: "tabular-data-package",
		Name:    "sewa-relief-" + first + "-to-" + last,
		Title:   "Ration kit requests, deliveries, donations and stock, " + first + " to " + last,
		Description: "Open data of a volunteer relief group, exported by Sewa. It holds no personal data: no names, phone numbers, " +
			"addresses, PANs, UPI ids, bank references, photos or notes. Ids are salted hashes, stable across files and exports. " +
			"A locality is the first part of the address the requester gave that has no digits and no part of their name " +
			"(or the card's area field when the flow records one, or a 0.01-degree grid cell for a shared location), in title case; a locality with fewer than " +
			strconv.Itoa(x.opt.MinGroup) + " requests in the export is written as \"other\". Dates are in " + x.opt.Loc.String() + ".",
		Temporal: [2]string{first, last},
		Resources: []resource{
			res(ExportRequests, "Requests made in the period.", "request"),
			res(ExportDeliveries, "Deliveries made in the period, including of requests made before it.", ""),
			res(ExportDonations, "Donations recorded in the period.", "donation"),
			res(ExportStock, "The stock ledger of the period: every change of stock on hand and reserved.", ""),
		},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(pkg)
}

// DayTotal is one day's count of cards and the sum of a numeric field over
// them.
type DayTotal struct {
	N   int
	Sum float64
}

// PerDay counts, per day in loc over [from, to), the cards of flow created
// (stage "") or the moves of its cards into stage, and sums field over them
// (field "" sums nothing). Days are "2026-04-02"; a day with nothing is
// absent. The board's charts read it.
func (t *Tx) PerDay(flow, stage, field string, from, to time.Time, loc *time.Location) (map[string]DayTotal, error) {
	var rows *sql.Rows
	var err error
	path := "$." + field
	if field == "" {
		path = "$.-" // no such key: nothing to sum
	}
	if stage == "" {
		rows, err = t.tx.QueryContext(t.ctx, `SELECT created_at, coalesce(json_extract(fields, ?), '') FROM cards
			WHERE flow = ? AND created_at >= ? AND created_at < ?`, path, flow, ms(from), ms(to))
	} else {
		rows, err = t.tx.QueryContext(t.ctx, `SELECT e.at, coalesce(json_extract(c.fields, ?), '') FROM card_events e JOIN cards c ON c.id = e.card_id
			WHERE e.at >= ? AND e.at < ? AND e.to_stage = ? AND e.from_stage <> e.to_stage AND c.flow = ?`, path, ms(from), ms(to), stage, flow)
	}
	if err != nil {
		return nil, fmt.Errorf("per day %s/%s: %w", flow, stage, err)
	}
	out := map[string]DayTotal{}
	err = eachRow(rows, func() error {
		var at int64
		var v any
		if err := rows.Scan(&at, &v); err != nil {
			return err
		}
		day := fromMS(at).In(loc).Format(time.DateOnly)
		d := out[day]
		d.N++
		if field != "" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(fmt.Sprint(v)), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				d.Sum += f
			}
		}
		out[day] = d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("per day %s/%s: %w", flow, stage, err)
	}
	return out, nil
}
