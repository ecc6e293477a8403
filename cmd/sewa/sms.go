package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"sewa/bot"
	"sewa/flows"
)

// moneyOptions are the runtime's options for donations: the group on its
// receipts, where receipts are kept (next to the database) and the token of
// POST /sms. A literal \n in SEWA_ORG_ADDRESS or SEWA_ORG_80G starts a new
// line on the receipt.
func moneyOptions(cfg config) []bot.Option {
	lines := func(s string) string { return strings.ReplaceAll(s, `\n`, "\n") }
	return []bot.Option{
		bot.WithOrg(flows.Org{Name: cfg.OrgName, Address: lines(cfg.OrgAddress), Registration: lines(cfg.Org80G)}),
		bot.WithDataDir(cfg.DataDir),
		bot.WithSMSToken(cfg.SMSToken),
	}
}

const smsUsage = `usage:
  sewa sms parse            read one SMS on stdin, print what it says as JSON
  sewa sms parse --jsonl    read lines {"id":…,"sms":…}, write one JSON line each
  sewa sms import FILE      make donation cards from an SMS backup: one SMS per
                            line, JSONL with "sms" or "text", or an SMS Backup &
                            Restore XML file; prints how many were created,
                            duplicates and skipped (flags of sewa go before FILE)
`

// smsCmd runs `sewa sms …`.
func smsCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "parse":
		return smsParse(stdin, stdout, stderr)
	case len(args) == 2 && args[0] == "parse" && args[1] == "--jsonl":
		return smsParseJSONL(stdin, stdout, stderr)
	case len(args) >= 2 && args[0] == "import":
		return smsImport(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, smsUsage)
	return exitUsage
}

// maxSMSInput bounds what parse reads: an SMS is a few hundred bytes.
const maxSMSInput = 1 << 20

// parsed is what sewa sms parse prints: the parser's fields, and for
// anything that is not a credit, why.
type parsed struct {
	flows.SMS
	Reason string `json:"reason,omitempty"`
}

func smsParse(stdin io.Reader, stdout, stderr io.Writer) int {
	b, err := io.ReadAll(io.LimitReader(stdin, maxSMSInput))
	if err != nil {
		fmt.Fprintf(stderr, "sewa sms parse: %v\n", err)
		return exitFailure
	}
	s := flows.ParseSMS(string(b))
	out := parsed{SMS: s}
	if s.Kind != flows.SMSCredit {
		out.Reason = s.Reason
	}
	line, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(stderr, "sewa sms parse: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return 0
}

// jsonlLine is one output line of parse --jsonl: the input's id, then the
// parser's fields, in the order the issue gives.
type jsonlLine struct {
	ID json.RawMessage `json:"id"`
	flows.SMS
	Error string `json:"error,omitempty"`
}

// smsParseJSONL writes one line per input line, in order. A line that
// cannot be read gets an output line with its error, so lines stay paired;
// the exit code is then 1.
func smsParseJSONL(stdin io.Reader, stdout, stderr io.Writer) int {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), maxSMSInput)
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	code, n := 0, 0
	for sc.Scan() {
		n++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var in struct {
			ID   json.RawMessage `json:"id"`
			SMS  *string         `json:"sms"`
			Text *string         `json:"text"`
		}
		out := jsonlLine{ID: json.RawMessage("null")}
		switch err := json.Unmarshal(sc.Bytes(), &in); {
		case err != nil:
			out.SMS, out.Error = flows.SMS{Kind: flows.SMSNone}, fmt.Sprintf("line %d: %v", n, err)
		case in.SMS == nil && in.Text == nil:
			out.SMS, out.Error = flows.SMS{Kind: flows.SMSNone}, fmt.Sprintf(`line %d: no "sms"`, n)
		default:
			text := in.SMS
			if text == nil {
				text = in.Text
			}
			out.SMS = flows.ParseSMS(*text)
		}
		if len(in.ID) > 0 {
			out.ID = in.ID
		}
		if out.Error != "" {
			fmt.Fprintf(stderr, "sewa sms parse: %s\n", out.Error)
			code = exitFailure
		}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "sewa sms parse: %v\n", err)
			return exitFailure
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "sewa sms parse: line %d: %v\n", n+1, err)
		return exitFailure
	}
	return code
}

// smsImport makes donation cards from a file of SMS, on the database the
// bot uses (it may be running: each SMS is one short transaction). Cards
// are not offered to treasurers one by one; the running bot offers waiting
// cards as treasurers have room.
func smsImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	path := args[len(args)-1]
	cfg, problems, err := loadConfig(args[:len(args)-1], getenv)
	if err != nil {
		return exitUsage
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, "sewa:", p)
	}
	if len(problems) > 0 {
		return exitUsage
	}
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "sewa sms import: %v\n", err)
		return exitUsage
	}
	defer f.Close()
	set, st, code := openFlowsAndStore(ctx, cfg, stderr)
	if code != 0 {
		return code
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := append([]bot.Option{bot.WithLogger(log), bot.WithLang(cfg.Lang), bot.WithLocation(cfg.TZ),
		bot.WithCoordinators(cfg.Coordinators...)}, moneyOptions(cfg)...)
	rt := bot.New(st, set, opts...)

	var created, duplicates, skipped, unreadable int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxSMSInput)
	n := 0
	for sc.Scan() {
		n++
		text, ok := smsOfLine(sc.Text())
		if !ok {
			unreadable++
			fmt.Fprintf(stderr, "%s:%d: no SMS text on this line\n", path, n)
			continue
		}
		if text == "" {
			continue
		}
		res, err := rt.TakeSMS(ctx, text, bot.SMSSource{Via: "import", Quiet: true})
		if err != nil {
			fmt.Fprintf(stderr, "sewa sms import: %s:%d: %v\n", path, n, err)
			fmt.Fprintf(stdout, "stopped at line %d: created %d, duplicates %d, skipped %d\n", n, created, duplicates, skipped+unreadable)
			return exitFailure
		}
		switch res.Status {
		case bot.SMSCreated:
			created++
			fmt.Fprintf(stdout, "%s %s %s ref %s\n", res.Card, flows.FormatRupees(deref(res.SMS.Amount)), deref(res.SMS.Date), deref(res.SMS.Ref))
		case bot.SMSDuplicate:
			duplicates++
		default:
			skipped++
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "sewa sms import: %s:%d: %v\n", path, n+1, err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "created %d, duplicates %d, skipped %d (not donations: %d, unreadable lines: %d)\n",
		created, duplicates, skipped+unreadable, skipped, unreadable)
	return 0
}

func deref(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

// xmlBody finds the text of one <sms … body="…"/> of an SMS Backup &
// Restore file, which writes one message per line.
var xmlBody = regexp.MustCompile(`\sbody="([^"]*)"`)

// smsOfLine finds the SMS text of one line of a backup: a JSON object's
// "sms", "text", "body" or "message"; an XML <sms> element's body; or the
// line itself. It reports false for a line that is JSON without any.
func smsOfLine(line string) (string, bool) {
	t := strings.TrimSpace(line)
	switch {
	case t == "":
		return "", true
	case strings.HasPrefix(t, "{"):
		var m map[string]any
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return "", false
		}
		for _, k := range []string{"sms", "text", "body", "message"} {
			if v, ok := m[k].(string); ok {
				return strings.TrimSpace(v), true
			}
		}
		return "", false
	case strings.HasPrefix(t, "<"):
		if m := xmlBody.FindStringSubmatch(t); m != nil {
			return strings.TrimSpace(html.UnescapeString(m[1])), true
		}
		return "", true // the file's other XML: <?xml …>, <smses …>
	}
	return t, true
}
