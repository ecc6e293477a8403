// Package fakeapi is an in-process fake of the Telegram Bot API for tests:
// an httptest server that speaks the Bot API's HTTP and JSON (getMe,
// getUpdates with offsets and long polling, sendMessage, sendPhoto,
// sendDocument, editMessageText, editMessageCaption, editMessageReplyMarkup,
// answerCallbackQuery, getFile and file downloads, setMyCommands and the
// webhook methods), lets a test script what users do (SayText, Press, Photo,
// Album, Contact, ...), injects failures (FailNext), enforces rate limits
// (WithLimits) and records everything the bot sent (Sent).
//
// Any package's tests can use it; a standalone fake server can drive it over
// HTTP through the control endpoints under /_fake/ (see control.go).
package fakeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Option configures a Server.
type Option func(*Server)

// WithLimits makes the fake refuse sends (sendMessage, sendPhoto,
// sendDocument) beyond global messages per second overall and perChat per
// chat with 429 and retry_after, as Telegram does. 0 means no limit. The
// window is a little shorter than a second so that a sender pacing itself at
// exactly the limit is not punished for network jitter.
func WithLimits(global, perChat float64) Option {
	return func(s *Server) { s.globalLimit, s.chatLimit = global, perChat }
}

// WithBot sets the bot's own user (getMe); the default is
// {id 7000001, "Sewa Test", @sewa_test_bot}.
func WithBot(id int64, username, firstName string) Option {
	return func(s *Server) { s.bot.ID, s.bot.Username, s.bot.FirstName = id, username, firstName }
}

// WithAddr makes the server listen on addr (a loopback address such as
// "127.0.0.1:8081") instead of a random port; for a standalone fake.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithFirstUpdateID sets the update_id of the first update.
func WithFirstUpdateID(id int64) Option { return func(s *Server) { s.nextUpdate = id } }

// WithClock sets the clock used for dates and timestamps.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is a fake Bot API. All methods are safe for concurrent use.
type Server struct {
	t      testing.TB
	token  string
	addr   string
	srv    *httptest.Server
	client *http.Client
	now    func() time.Time

	closed    chan struct{}
	closeOnce sync.Once
	hookWG    sync.WaitGroup

	mu          sync.Mutex
	bot         User
	chats       map[int64]*chat
	pending     []queued // updates not yet confirmed, by update_id
	nextUpdate  int64
	confirmed   int64         // highest offset a getUpdates confirmed
	wake        chan struct{} // closed and replaced whenever an update is queued
	pollStop    chan struct{} // closed when another getUpdates supersedes the waiting one
	sent        []Sent
	seen        map[string]bool
	dups        int
	calls       []Call
	fails       map[string][]pendingFailure
	globalLimit float64
	chatLimit   float64
	globalSends []time.Time
	chatSends   map[int64][]time.Time
	limited     int // 429s answered by the limiter
	injected429 int
	files       map[string]*file // by file_id
	paths       map[string]*file // by file_path
	counter     int64
	callbacks   map[string]*callback
	commands    map[string][]Command // by language_code ("" = default)
	hook        webhook
	delivered   int // updates delivered to the webhook
}

type chat struct {
	user     User
	nextMsg  int
	messages map[int]*stored
	blocked  bool
	instance string
}

type stored struct {
	msg     Message
	sent    Sent // for the bot's messages: current state
	fromBot bool
}

type queued struct {
	id  int64
	raw []byte // the whole update, update_id included
}

type file struct {
	File
	data []byte
}

type callback struct {
	updateID int64
	answered bool
	text     string
}

type webhook struct {
	url, secret string
	stop        chan struct{}
	lastErr     string
	lastErrAt   int64
	maxConns    int
	allowed     []string
}

// New starts a fake Bot API that accepts token. With t, the server is closed
// when the test ends and a request for a method the fake does not know fails
// the test; t may be nil (for a standalone server). New panics (or fails t)
// when it cannot listen.
func New(t testing.TB, token string, opts ...Option) *Server {
	s := &Server{
		t:          t,
		token:      token,
		now:        time.Now,
		closed:     make(chan struct{}),
		bot:        User{ID: 7000001, IsBot: true, FirstName: "Sewa Test", Username: "sewa_test_bot"},
		chats:      map[int64]*chat{},
		nextUpdate: 700000001,
		wake:       make(chan struct{}),
		seen:       map[string]bool{},
		fails:      map[string][]pendingFailure{},
		chatSends:  map[int64][]time.Time{},
		files:      map[string]*file{},
		paths:      map[string]*file{},
		callbacks:  map[string]*callback{},
		commands:   map[string][]Command{},
	}
	f := false
	s.bot.CanJoinGroups, s.bot.CanReadAllGroupMessages, s.bot.SupportsInlineQueries = &f, &f, &f
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewUnstartedServer(s)
	if s.addr != "" {
		l, err := net.Listen("tcp", s.addr)
		if err == nil && !isLoopback(l.Addr()) {
			l.Close()
			err = fmt.Errorf("%s is not a loopback address", s.addr)
		}
		if err != nil {
			s.fatalf("fakeapi: listen: %v", err)
			return nil
		}
		s.srv.Listener.Close()
		s.srv.Listener = l
	}
	s.srv.Start()
	s.client = &http.Client{Transport: LoopbackTransport()}
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

func (s *Server) fatalf(format string, args ...any) {
	if s.t != nil {
		s.t.Helper()
		s.t.Fatalf(format, args...)
	}
	panic(fmt.Sprintf(format, args...))
}

// URL is the Bot API base URL, e.g. http://127.0.0.1:41234; methods are
// served at {URL}/bot{token}/{method} and files at {URL}/file/bot{token}/{path}.
func (s *Server) URL() string { return s.srv.URL }

// Client returns an HTTP client whose transport refuses every host that is
// not loopback.
func (s *Server) Client() *http.Client { return s.client }

// Token is the token the fake accepts.
func (s *Server) Token() string { return s.token }

// Bot is the bot's own user, as getMe answers it.
func (s *Server) Bot() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bot
}

// Close stops the server, ending waiting long polls.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.Close()
		s.hookWG.Wait()
	})
}

// ServeHTTP serves the Bot API, the file downloads and the control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_fake/"):
		s.control(w, r)
	case strings.HasPrefix(p, "/file/bot"):
		s.download(w, r)
	case strings.HasPrefix(p, "/bot"):
		s.api(w, r)
	default:
		writeJSON(w, 404, apiResponse{ErrorCode: 404, Description: "Not Found"})
	}
}

// apiResponse is the Bot API's envelope.
type apiResponse struct {
	Ok          bool        `json:"ok"`
	Result      any         `json:"result,omitempty"`
	ErrorCode   int         `json:"error_code,omitempty"`
	Description string      `json:"description,omitempty"`
	Parameters  *parameters `json:"parameters,omitempty"`
}

type parameters struct {
	RetryAfter      int   `json:"retry_after,omitempty"`
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
}

// reply is what a method handler answers.
type reply struct {
	status int
	body   apiResponse
	raw    []byte // a non-JSON body (502 from the front end)
	none   bool   // the client is gone or the connection was dropped: write nothing
}

func ok(result any) reply { return reply{status: 200, body: apiResponse{Ok: true, Result: result}} }

func okDesc(result any, desc string) reply {
	return reply{status: 200, body: apiResponse{Ok: true, Result: result, Description: desc}}
}

func fail(code int, desc string) reply {
	return reply{status: code, body: apiResponse{ErrorCode: code, Description: desc}}
}

func badRequest(desc string) reply { return fail(400, "Bad Request: "+desc) }

// request is one parsed API call.
type request struct {
	ctx      context.Context
	method   string
	params   map[string]string
	files    map[string]upload
	returned []int64 // update_ids a getUpdates answered
}

type upload struct {
	name string
	data []byte
}

func (r *request) int64(key string) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(r.params[key]), 10, 64)
	return v, err == nil
}

func (s *Server) api(w http.ResponseWriter, hr *http.Request) {
	rest := strings.TrimPrefix(hr.URL.Path, "/bot")
	token, method, found := strings.Cut(rest, "/")
	if !found || token == "" || method == "" {
		writeJSON(w, 404, apiResponse{ErrorCode: 404, Description: "Not Found"})
		return
	}
	req := &request{ctx: hr.Context(), method: method}
	if token != s.token {
		s.record(req, 401)
		writeJSON(w, 401, apiResponse{ErrorCode: 401, Description: "Unauthorized"})
		return
	}
	if err := parseParams(hr, req); err != nil {
		s.record(req, 400)
		writeReply(w, badRequest(err.Error()))
		return
	}
	i := s.record(req, 0) // recorded on arrival, so a call the client gave up on counts
	rep := s.call(req, w)
	s.finish(i, rep.status, req.returned)
	if rep.none {
		return
	}
	writeReply(w, rep)
}

func (s *Server) call(req *request, w http.ResponseWriter) reply {
	if f, ok := s.takeFailure(req.method); ok {
		if f.Drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
				}
			}
			return reply{status: 0, none: true}
		}
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-req.ctx.Done():
				return reply{status: 0, none: true}
			case <-s.closed:
				return reply{status: 0, none: true}
			}
		}
		if f.Code != 0 {
			return failureReply(f)
		}
	}
	m := strings.ToLower(req.method) // method names are case-insensitive
	if m == "getupdates" {
		return s.getUpdates(req)
	}
	h, known := s.handlers()[m]
	if !known {
		if s.t != nil {
			s.t.Errorf("fakeapi: the bot called %s, which the fake does not implement", req.method)
		}
		return fail(404, "Not Found")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return h(req)
}

func failureReply(f Failure) reply {
	if f.Code == 502 || f.Code == 504 {
		body := fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n",
			f.Code, http.StatusText(f.Code), f.Code, http.StatusText(f.Code))
		return reply{status: f.Code, raw: []byte(body)}
	}
	rep := fail(f.Code, f.Description)
	if f.RetryAfter > 0 {
		rep.body.Parameters = &parameters{RetryAfter: f.RetryAfter}
	}
	return rep
}

func (s *Server) handlers() map[string]func(*request) reply {
	return map[string]func(*request) reply{
		"getme":                  s.getMe,
		"sendmessage":            s.sendMessage,
		"sendphoto":              s.sendPhoto,
		"senddocument":           s.sendDocument,
		"editmessagetext":        s.editMessageText,
		"editmessagereplymarkup": s.editMessageReplyMarkup,
		"editmessagecaption":     s.editMessageCaption,
		"answercallbackquery":    s.answerCallbackQuery,
		"getfile":                s.getFile,
		"setmycommands":          s.setMyCommands,
		"getmycommands":          s.getMyCommands,
		"setwebhook":             s.setWebhook,
		"deletewebhook":          s.deleteWebhook,
		"getwebhookinfo":         s.getWebhookInfo,
	}
}

func parseParams(hr *http.Request, req *request) error {
	req.params = map[string]string{}
	req.files = map[string]upload{}
	for k, v := range hr.URL.Query() {
		req.params[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		if err := hr.ParseMultipartForm(64 << 20); err != nil {
			return fmt.Errorf("can't parse multipart form: %v", err)
		}
		for k, v := range hr.MultipartForm.Value {
			req.params[k] = v[0]
		}
		for k, fhs := range hr.MultipartForm.File {
			f, err := fhs[0].Open()
			if err != nil {
				return err
			}
			data, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return err
			}
			req.files[k] = upload{name: fhs[0].Filename, data: data}
		}
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.NewDecoder(hr.Body).Decode(&m); err != nil && err != io.EOF {
			return fmt.Errorf("can't parse JSON: %v", err)
		}
		for k, v := range m {
			var str string
			if json.Unmarshal(v, &str) == nil {
				req.params[k] = str
			} else {
				req.params[k] = string(v)
			}
		}
	default:
		if err := hr.ParseForm(); err != nil {
			return err
		}
		for k, v := range hr.PostForm {
			req.params[k] = v[0]
		}
	}
	return nil
}

func (s *Server) record(req *request, status int) int {
	params := make(map[string]string, len(req.params)+len(req.files))
	for k, v := range req.params {
		params[k] = v
	}
	for k, f := range req.files {
		params[k] = "@" + f.name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{At: s.now(), Method: req.method, Params: params, Status: status})
	return len(s.calls) - 1
}

// finish notes how a recorded call was answered.
func (s *Server) finish(i, status int, returned []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[i].Status, s.calls[i].Returned = status, returned
	if status == 429 {
		s.injected429++
	}
}

func writeReply(w http.ResponseWriter, rep reply) {
	if rep.raw != nil {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(rep.status)
		w.Write(rep.raw)
		return
	}
	writeJSON(w, rep.status, rep.body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// --- failures and limits ---

type pendingFailure struct {
	skip int // calls to serve normally first
	f    Failure
}

// FailNext makes the next n calls of method (e.g. "sendMessage"; "" for any
// method) fail with f instead of being served. A Slow failure without a Code
// delays the call and then serves it. Failures queue up in order.
func (s *Server) FailNext(method string, n int, f Failure) { s.FailLater(method, 0, n, f) }

// FailLater serves the next skip calls of method normally, then fails n
// calls with f (for instance the second part of a long message).
func (s *Server) FailLater(method string, skip, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(method)
	for i := range n {
		sk := 0
		if i == 0 {
			sk = skip
		}
		s.fails[key] = append(s.fails[key], pendingFailure{skip: sk, f: f})
	}
}

func (s *Server) takeFailure(method string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{strings.ToLower(method), ""} {
		if q := s.fails[key]; len(q) > 0 {
			if q[0].skip > 0 {
				q[0].skip--
				return Failure{}, false
			}
			s.fails[key] = q[1:]
			return q[0].f, true
		}
	}
	return Failure{}, false
}

const limitWindow = time.Second - 50*time.Millisecond

// admit applies the rate limits to one send to chatID; it returns the
// retry_after to answer, or 0 when the send may go. Called with s.mu held.
func (s *Server) admit(chatID int64) int {
	now := s.now()
	s.globalSends = trim(s.globalSends, now)
	s.chatSends[chatID] = trim(s.chatSends[chatID], now)
	retry := 0
	check := func(sends []time.Time, limit float64) {
		if limit <= 0 || float64(len(sends)) < limit*float64(limitWindow)/float64(time.Second) {
			return
		}
		wait := sends[0].Add(limitWindow).Sub(now)
		secs := int((wait + time.Second - 1) / time.Second)
		retry = max(retry, secs, 1)
	}
	check(s.globalSends, s.globalLimit)
	check(s.chatSends[chatID], s.chatLimit)
	if retry > 0 {
		s.limited++
		return retry
	}
	s.globalSends = append(s.globalSends, now)
	s.chatSends[chatID] = append(s.chatSends[chatID], now)
	return 0
}

func trim(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-limitWindow)) {
		i++
	}
	return ts[i:]
}

// --- users and chats ---

// AddUser registers a Telegram user (and their private chat, whose id is
// u.ID). Users are also registered on their first scripted message.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chatLocked(u.ID)
	u.IsBot = false
	c.user = u
}

// Block makes every send to chatID fail with 403 "bot was blocked by the
// user" until Unblock.
func (s *Server) Block(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(chatID).blocked = true
}

// Unblock undoes Block.
func (s *Server) Unblock(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(chatID).blocked = false
}

func (s *Server) chatLocked(id int64) *chat {
	c, found := s.chats[id]
	if !found {
		c = &chat{
			user:     User{ID: id, FirstName: "User", LastName: strconv.FormatInt(id, 10), LanguageCode: "en"},
			messages: map[int]*stored{},
			instance: strconv.FormatInt(-(id*7919+104729)%9000000000000000000, 10),
		}
		s.chats[id] = c
	}
	return c
}

func (c *chat) wire() Chat {
	return Chat{ID: c.user.ID, FirstName: c.user.FirstName, LastName: c.user.LastName, Username: c.user.Username, Type: "private"}
}

// --- methods ---

func (s *Server) getMe(*request) reply { return ok(s.bot) }

// reachable finds the private chat a send goes to.
func (s *Server) reachable(req *request) (*chat, int64, *reply) {
	raw := strings.TrimSpace(req.params["chat_id"])
	if raw == "" {
		r := badRequest("chat_id is empty")
		return nil, 0, &r
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	c, found := s.chats[id]
	if err != nil || !found {
		r := badRequest("chat not found")
		return nil, 0, &r
	}
	if c.blocked {
		r := fail(403, "Forbidden: bot was blocked by the user")
		return nil, 0, &r
	}
	return c, id, nil
}

func (s *Server) limit(chatID int64) *reply {
	if retry := s.admit(chatID); retry > 0 {
		r := fail(429, fmt.Sprintf("Too Many Requests: retry after %d", retry))
		r.body.Parameters = &parameters{RetryAfter: retry}
		return &r
	}
	return nil
}

type markup struct {
	inline   json.RawMessage
	buttons  [][]Button
	keyboard [][]Button
	oneTime  bool
}

func parseMarkup(raw string) (markup, *reply) {
	var m markup
	if raw == "" {
		return m, nil
	}
	var wire struct {
		InlineKeyboard *[][]struct {
			Text         string  `json:"text"`
			CallbackData *string `json:"callback_data"`
			URL          *string `json:"url"`
		} `json:"inline_keyboard"`
		Keyboard *[][]struct {
			Text            string `json:"text"`
			RequestContact  bool   `json:"request_contact"`
			RequestLocation bool   `json:"request_location"`
		} `json:"keyboard"`
		OneTime bool `json:"one_time_keyboard"`
		Remove  bool `json:"remove_keyboard"`
	}
	if err := json.Unmarshal([]byte(raw), &wire); err != nil {
		r := badRequest("can't parse reply keyboard markup JSON object")
		return m, &r
	}
	switch {
	case wire.InlineKeyboard != nil:
		for _, row := range *wire.InlineKeyboard {
			var out []Button
			for _, b := range row {
				if b.Text == "" {
					r := badRequest("BUTTON_TEXT_INVALID")
					return m, &r
				}
				if b.CallbackData != nil && (len(*b.CallbackData) == 0 || len(*b.CallbackData) > 64) {
					r := badRequest("BUTTON_DATA_INVALID")
					return m, &r
				}
				if b.CallbackData == nil && b.URL == nil {
					r := badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
					return m, &r
				}
				btn := Button{Text: b.Text}
				if b.CallbackData != nil {
					btn.Data = *b.CallbackData
				}
				out = append(out, btn)
			}
			m.buttons = append(m.buttons, out)
		}
		if len(m.buttons) > 0 {
			m.inline = canonicalInline(m.buttons)
		}
	case wire.Keyboard != nil:
		for _, row := range *wire.Keyboard {
			var out []Button
			for _, b := range row {
				out = append(out, Button{Text: b.Text, RequestContact: b.RequestContact, RequestLocation: b.RequestLocation})
			}
			m.keyboard = append(m.keyboard, out)
		}
		m.oneTime = wire.OneTime
	case wire.Remove:
	default:
		r := badRequest("can't parse reply keyboard markup JSON object")
		return m, &r
	}
	return m, nil
}

// canonicalInline is the reply_markup as it appears in a Message object.
func canonicalInline(rows [][]Button) json.RawMessage {
	type btn struct {
		Text string `json:"text"`
		Data string `json:"callback_data"`
	}
	var kb [][]btn
	for _, row := range rows {
		var r []btn
		for _, b := range row {
			r = append(r, btn{b.Text, b.Data})
		}
		kb = append(kb, r)
	}
	data, _ := json.Marshal(map[string]any{"inline_keyboard": kb})
	return data
}

// newBotMessage stores a message the bot sent and records it.
func (s *Server) newBotMessage(c *chat, method string, m Message, mk markup, fileName string, fileSize int) Message {
	c.nextMsg++
	m.MessageID = c.nextMsg
	bot := s.bot
	m.From = &bot
	m.Chat = c.wire()
	now := s.now()
	m.Date = now.Unix()
	m.ReplyMarkup = mk.inline
	text := m.Text
	if text == "" {
		text = m.Caption
	}
	sent := Sent{
		At: now, Method: method, ChatID: c.user.ID, MessageID: m.MessageID, Text: text,
		Buttons: mk.buttons, Keyboard: mk.keyboard, OneTime: mk.oneTime, File: fileName, FileSize: fileSize,
	}
	c.messages[m.MessageID] = &stored{msg: m, sent: sent, fromBot: true}
	s.sent = append(s.sent, sent)
	key := fmt.Sprintf("%d\x00%s\x00%s\x00%s\x00%d", c.user.ID, method, text, fileName, fileSize)
	if s.seen[key] {
		s.dups++
	}
	s.seen[key] = true
	return m
}

func (s *Server) sendMessage(req *request) reply {
	c, id, bad := s.reachable(req)
	if bad != nil {
		return *bad
	}
	text := req.params["text"]
	if strings.TrimSpace(text) == "" {
		return badRequest("message text is empty")
	}
	if utf8.RuneCountInString(text) > 4096 {
		return badRequest("message is too long")
	}
	mk, bad := parseMarkup(req.params["reply_markup"])
	if bad != nil {
		return *bad
	}
	if bad := s.limit(id); bad != nil {
		return *bad
	}
	m := s.newBotMessage(c, "sendMessage", Message{Text: text, Entities: entities(text)}, mk, "", 0)
	return ok(m)
}

func (s *Server) caption(req *request) (string, *reply) {
	caption := req.params["caption"]
	if utf8.RuneCountInString(caption) > 1024 {
		r := badRequest("message caption is too long")
		return "", &r
	}
	return caption, nil
}

// mediaRequest checks what sendPhoto and sendDocument share: a chat that
// can be written to, a caption within limits and a readable keyboard.
func (s *Server) mediaRequest(req *request) (c *chat, id int64, caption string, mk markup, bad *reply) {
	if c, id, bad = s.reachable(req); bad != nil {
		return
	}
	if caption, bad = s.caption(req); bad != nil {
		return
	}
	mk, bad = parseMarkup(req.params["reply_markup"])
	return
}

func (s *Server) sendPhoto(req *request) reply {
	c, id, caption, mk, bad := s.mediaRequest(req)
	if bad != nil {
		return *bad
	}
	var sizes []PhotoSize
	var name string
	var size int
	if up, found := req.files["photo"]; found {
		if len(up.data) == 0 {
			return badRequest("file must be non-empty")
		}
		sizes, name, size = s.photoSizes(up.data), up.name, len(up.data)
	} else if fid := req.params["photo"]; fid != "" {
		f, found := s.files[fid]
		if !found {
			return badRequest("wrong file identifier/HTTP URL specified")
		}
		sizes, name, size = s.photoSizes(f.data), f.FilePath, len(f.data)
	} else {
		return badRequest("there is no photo in the request")
	}
	if bad := s.limit(id); bad != nil {
		return *bad
	}
	m := s.newBotMessage(c, "sendPhoto", Message{Photo: sizes, Caption: caption}, mk, name, size)
	return ok(m)
}

func (s *Server) sendDocument(req *request) reply {
	c, id, caption, mk, bad := s.mediaRequest(req)
	if bad != nil {
		return *bad
	}
	up, found := req.files["document"]
	if !found {
		return badRequest("there is no document in the request")
	}
	if len(up.data) == 0 {
		return badRequest("file must be non-empty")
	}
	if bad := s.limit(id); bad != nil {
		return *bad
	}
	doc := s.document(up.name, "", up.data)
	m := s.newBotMessage(c, "sendDocument", Message{Document: doc, Caption: caption}, mk, up.name, len(up.data))
	return ok(m)
}

func (s *Server) editTarget(req *request) (*stored, *reply) {
	if req.params["inline_message_id"] != "" {
		r := badRequest("MESSAGE_ID_INVALID")
		return nil, &r
	}
	id, _ := req.int64("chat_id")
	c, found := s.chats[id]
	if !found {
		r := badRequest("chat not found")
		return nil, &r
	}
	mid, _ := req.int64("message_id")
	st, found := c.messages[int(mid)]
	if !found {
		r := badRequest("message to edit not found")
		return nil, &r
	}
	if !st.fromBot {
		r := badRequest("message can't be edited")
		return nil, &r
	}
	return st, nil
}

const notModified = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

func (s *Server) editMessageText(req *request) reply {
	st, bad := s.editTarget(req)
	if bad != nil {
		return *bad
	}
	text := req.params["text"]
	if strings.TrimSpace(text) == "" {
		return badRequest("message text is empty")
	}
	if utf8.RuneCountInString(text) > 4096 {
		return badRequest("MESSAGE_TOO_LONG")
	}
	if st.msg.Text == "" {
		return badRequest("there is no text in the message to edit")
	}
	mk, bad := parseMarkup(req.params["reply_markup"])
	if bad != nil {
		return *bad
	}
	if text == st.msg.Text && bytes.Equal(mk.inline, st.msg.ReplyMarkup) {
		return badRequest(notModified)
	}
	st.msg.Text, st.msg.Entities = text, entities(text)
	st.msg.ReplyMarkup = mk.inline
	st.msg.EditDate = s.now().Unix()
	st.sent.Text, st.sent.Buttons = text, mk.buttons
	st.sent.Edits++
	return ok(st.msg)
}

func (s *Server) editMessageCaption(req *request) reply {
	st, bad := s.editTarget(req)
	if bad != nil {
		return *bad
	}
	if len(st.msg.Photo) == 0 && st.msg.Document == nil {
		return badRequest("there is no caption in the message to edit")
	}
	caption, bad := s.caption(req)
	if bad != nil {
		return *bad
	}
	mk, bad := parseMarkup(req.params["reply_markup"])
	if bad != nil {
		return *bad
	}
	if caption == st.msg.Caption && bytes.Equal(mk.inline, st.msg.ReplyMarkup) {
		return badRequest(notModified)
	}
	st.msg.Caption, st.msg.ReplyMarkup = caption, mk.inline
	st.msg.EditDate = s.now().Unix()
	st.sent.Text, st.sent.Buttons = caption, mk.buttons
	st.sent.Edits++
	return ok(st.msg)
}

func (s *Server) editMessageReplyMarkup(req *request) reply {
	st, bad := s.editTarget(req)
	if bad != nil {
		return *bad
	}
	mk, bad := parseMarkup(req.params["reply_markup"])
	if bad != nil {
		return *bad
	}
	if bytes.Equal(mk.inline, st.msg.ReplyMarkup) {
		return badRequest(notModified)
	}
	st.msg.ReplyMarkup = mk.inline
	st.msg.EditDate = s.now().Unix()
	st.sent.Buttons = mk.buttons
	st.sent.Edits++
	return ok(st.msg)
}

func (s *Server) answerCallbackQuery(req *request) reply {
	cb, found := s.callbacks[req.params["callback_query_id"]]
	if !found || cb.answered {
		return badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	cb.answered, cb.text = true, req.params["text"]
	return ok(true)
}

func (s *Server) getFile(req *request) reply {
	f, found := s.files[req.params["file_id"]]
	if !found {
		return badRequest("invalid file_id")
	}
	return ok(f.File)
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/file/bot")
	token, p, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	f, found := s.paths[p]
	s.mu.Unlock()
	if token != s.token {
		writeJSON(w, 401, apiResponse{ErrorCode: 401, Description: "Unauthorized"})
		return
	}
	if !found {
		writeJSON(w, 404, apiResponse{ErrorCode: 404, Description: "Not Found"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	w.Write(f.data)
}

func (s *Server) setMyCommands(req *request) reply {
	var cmds []Command
	if err := json.Unmarshal([]byte(req.params["commands"]), &cmds); err != nil {
		return badRequest("can't parse commands JSON object")
	}
	if len(cmds) > 100 {
		return badRequest("BOT_COMMANDS_TOO_MUCH")
	}
	for _, c := range cmds {
		if !validCommand(c.Command) {
			return badRequest("BOT_COMMAND_INVALID")
		}
		if n := utf8.RuneCountInString(c.Description); n < 1 || n > 256 {
			return badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	lang := req.params["language_code"]
	if lang != "" && len(lang) != 2 {
		return badRequest("invalid language code specified")
	}
	s.commands[lang] = cmds
	return ok(true)
}

func validCommand(c string) bool {
	if len(c) < 1 || len(c) > 32 {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func (s *Server) getMyCommands(req *request) reply {
	cmds := s.commands[req.params["language_code"]]
	if cmds == nil {
		cmds = []Command{}
	}
	return ok(cmds)
}

// --- getUpdates and webhooks ---

func (s *Server) getUpdates(req *request) reply {
	offset, _ := req.int64("offset")
	limit, _ := req.int64("limit")
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := req.int64("timeout")
	s.mu.Lock()
	if s.hook.url != "" {
		s.mu.Unlock()
		return fail(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
	}
	if s.pollStop != nil {
		close(s.pollStop)
	}
	stop := make(chan struct{})
	s.pollStop = stop
	s.confirmLocked(offset)
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(time.Duration(timeout) * time.Second)
		defer t.Stop()
		timer = t.C
	}
	defer func() {
		s.mu.Lock()
		if s.pollStop == stop {
			s.pollStop = nil
		}
		s.mu.Unlock()
	}()
	for {
		ups, ids := s.fromLocked(offset, int(limit))
		if len(ups) > 0 || timer == nil {
			s.mu.Unlock()
			req.returned = ids
			return ok(ups)
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-timer:
			return ok([]json.RawMessage{})
		case <-stop:
			return fail(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
		case <-req.ctx.Done():
			return reply{none: true}
		case <-s.closed:
			return ok([]json.RawMessage{})
		}
		s.mu.Lock()
		if s.hook.url != "" {
			s.mu.Unlock()
			return fail(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
		}
	}
}

// confirmLocked drops the updates a getUpdates offset confirms.
func (s *Server) confirmLocked(offset int64) {
	switch {
	case offset > 0:
		i := sort.Search(len(s.pending), func(i int) bool { return s.pending[i].id >= offset })
		s.pending = s.pending[i:]
		s.confirmed = max(s.confirmed, offset)
	case offset < 0:
		if keep := int(-offset); keep < len(s.pending) {
			s.pending = s.pending[len(s.pending)-keep:]
		}
	}
}

func (s *Server) fromLocked(offset int64, limit int) ([]json.RawMessage, []int64) {
	out := []json.RawMessage{}
	var ids []int64
	for _, q := range s.pending {
		if q.id >= offset && len(out) < limit {
			out = append(out, q.raw)
			ids = append(ids, q.id)
		}
	}
	return out, ids
}

func (s *Server) setWebhook(req *request) reply {
	u := req.params["url"]
	if u == "" {
		s.stopHookLocked()
		return okDesc(true, "Webhook is already deleted")
	}
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://127.0.0.1") && !strings.HasPrefix(u, "http://localhost") && !strings.HasPrefix(u, "http://[::1]") {
		return badRequest("bad webhook: An HTTPS URL must be provided for webhook")
	}
	secret := req.params["secret_token"]
	if len(secret) > 256 || strings.Trim(secret, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
		return badRequest("secret token contains unallowed characters")
	}
	if req.params["drop_pending_updates"] == "true" {
		s.pending = nil
	}
	var allowed []string
	json.Unmarshal([]byte(req.params["allowed_updates"]), &allowed)
	mc, _ := req.int64("max_connections")
	if s.hook.url == u && s.hook.secret == secret {
		s.hook.allowed, s.hook.maxConns = allowed, int(mc)
		return okDesc(true, "Webhook is already set")
	}
	s.stopHookLocked()
	if s.pollStop != nil {
		close(s.pollStop)
		s.pollStop = nil
	}
	s.hook = webhook{url: u, secret: secret, stop: make(chan struct{}), allowed: allowed, maxConns: int(mc)}
	s.hookWG.Add(1)
	go s.deliver(s.hook.url, s.hook.secret, s.hook.stop)
	return okDesc(true, "Webhook was set")
}

func (s *Server) stopHookLocked() {
	if s.hook.stop != nil {
		close(s.hook.stop)
	}
	s.hook = webhook{}
}

func (s *Server) deleteWebhook(req *request) reply {
	if req.params["drop_pending_updates"] == "true" {
		s.pending = nil
	}
	if s.hook.url == "" {
		return okDesc(true, "Webhook is already deleted")
	}
	s.stopHookLocked()
	return okDesc(true, "Webhook was deleted")
}

func (s *Server) getWebhookInfo(*request) reply {
	return ok(WebhookInfo{
		URL: s.hook.url, PendingUpdateCount: len(s.pending),
		LastErrorDate: s.hook.lastErrAt, LastErrorMessage: s.hook.lastErr,
		MaxConnections: s.hook.maxConns, AllowedUpdates: s.hook.allowed,
	})
}

// deliver posts pending updates to the webhook one at a time, in order, and
// drops each only once the bot answered 2xx; otherwise it retries with a
// short capped backoff.
func (s *Server) deliver(url, secret string, stop chan struct{}) {
	defer s.hookWG.Done()
	backoff := 20 * time.Millisecond
	for {
		s.mu.Lock()
		var next *queued
		if len(s.pending) > 0 {
			q := s.pending[0]
			next = &q
		}
		wake := s.wake
		s.mu.Unlock()
		if next == nil {
			select {
			case <-wake:
				continue
			case <-stop:
				return
			case <-s.closed:
				return
			}
		}
		errMsg := s.post(url, secret, next.raw, stop)
		s.mu.Lock()
		if errMsg == "" {
			if len(s.pending) > 0 && s.pending[0].id == next.id {
				s.pending = s.pending[1:]
			}
			s.delivered++
			backoff = 20 * time.Millisecond
		} else if s.hook.stop == stop {
			s.hook.lastErr, s.hook.lastErrAt = errMsg, s.now().Unix()
		}
		s.mu.Unlock()
		if errMsg != "" {
			select {
			case <-time.After(backoff):
			case <-stop:
				return
			case <-s.closed:
				return
			}
			backoff = min(backoff*2, time.Second)
		}
	}
}

func (s *Server) post(url, secret string, body []byte, stop chan struct{}) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-stop:
		case <-s.closed:
		case <-ctx.Done():
		}
		cancel()
	}()
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "Connection refused"
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Sprintf("Wrong response from the webhook: %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return ""
}

// --- files ---

func (s *Server) newFile(dir, ext string, data []byte) *file {
	s.counter++
	n := s.counter
	f := &file{
		File: File{
			FileID:       fmt.Sprintf("AgACAgIAAxkBAAIB%06dZmFrZQ", n),
			FileUniqueID: fmt.Sprintf("AQAD%06dfk", n),
			FileSize:     len(data),
			FilePath:     path.Join(dir, fmt.Sprintf("file_%d%s", n, ext)),
		},
		data: data,
	}
	s.files[f.FileID] = f
	s.paths[f.FilePath] = f
	return f
}

// photoSizes stores data as a photo in three sizes, the largest last, as
// Telegram sends them; only the largest holds data, the thumbnails hold
// placeholder bytes.
func (s *Server) photoSizes(data []byte) []PhotoSize {
	small := s.newFile("photos", ".jpg", []byte("thumbnail 90"))
	mid := s.newFile("photos", ".jpg", []byte("thumbnail 320"))
	large := s.newFile("photos", ".jpg", data)
	return []PhotoSize{
		{FileID: small.FileID, FileUniqueID: small.FileUniqueID, FileSize: small.FileSize, Width: 90, Height: 68},
		{FileID: mid.FileID, FileUniqueID: mid.FileUniqueID, FileSize: mid.FileSize, Width: 320, Height: 240},
		{FileID: large.FileID, FileUniqueID: large.FileUniqueID, FileSize: large.FileSize, Width: 1280, Height: 960},
	}
}

func (s *Server) document(name, mimeType string, data []byte) *Document {
	if mimeType == "" {
		mimeType = mime.TypeByExtension(path.Ext(name))
		if i := strings.IndexByte(mimeType, ';'); i >= 0 {
			mimeType = mimeType[:i]
		}
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	f := s.newFile("documents", path.Ext(name), data)
	return &Document{FileName: path.Base(name), MimeType: mimeType, FileID: f.FileID, FileUniqueID: f.FileUniqueID, FileSize: f.FileSize}
}

// FileData returns the bytes stored under fileID (uploaded by the bot or
// scripted).
func (s *Server) FileData(fileID string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, found := s.files[fileID]
	if !found {
		return nil, false
	}
	return f.data, true
}

// --- what happened ---

// Sent returns every message the bot sent, in order, as sent (edits are not
// applied; see Message).
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// SentTo returns the messages sent to chatID, in order.
func (s *Server) SentTo(chatID int64) []Sent {
	var out []Sent
	for _, m := range s.Sent() {
		if m.ChatID == chatID {
			out = append(out, m)
		}
	}
	return out
}

// Message returns the current state (after edits) of a message the bot sent.
func (s *Server) Message(chatID int64, messageID int) (Sent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, found := s.chats[chatID]
	if !found {
		return Sent{}, false
	}
	st, found := c.messages[messageID]
	if !found || !st.fromBot {
		return Sent{}, false
	}
	return st.sent, true
}

// Duplicates counts sends that repeated an earlier send to the same chat
// (same method, text and file): a sender that is exactly-once keeps it at 0,
// provided the test makes every outbox text unique.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// RateLimited counts the 429s the limits (WithLimits) answered.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// TooManyRequestsAnswered counts every 429 answered, injected ones included.
func (s *Server) TooManyRequestsAnswered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.injected429
}

// Calls returns the requests for method ("" for all), in order.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || strings.EqualFold(c.Method, method) {
			out = append(out, c)
		}
	}
	return out
}

// Commands returns the command menu set for languageCode ("" = default).
func (s *Server) Commands(languageCode string) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.commands[languageCode]...)
}

// CallbackAnswered says whether the callback query of the update updateID
// was answered (answerCallbackQuery), and with what text.
func (s *Server) CallbackAnswered(updateID int64) (answered bool, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cb := range s.callbacks {
		if cb.updateID == updateID {
			return cb.answered, cb.text
		}
	}
	return false, ""
}

// Webhook returns the webhook as getWebhookInfo would, and its secret token.
func (s *Server) Webhook() (info WebhookInfo, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return WebhookInfo{
		URL: s.hook.url, PendingUpdateCount: len(s.pending),
		LastErrorDate: s.hook.lastErrAt, LastErrorMessage: s.hook.lastErr,
		MaxConnections: s.hook.maxConns, AllowedUpdates: s.hook.allowed,
	}, s.hook.secret
}

// Delivered counts updates the webhook accepted.
func (s *Server) Delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered
}

// Pending counts updates not yet confirmed by a getUpdates offset (or
// delivered to the webhook).
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Polling says whether a getUpdates is waiting for updates (long polling).
func (s *Server) Polling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pollStop != nil
}

// Confirmed is the highest offset a getUpdates has confirmed.
func (s *Server) Confirmed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.confirmed
}

func isLoopback(a net.Addr) bool {
	ta, isTCP := a.(*net.TCPAddr)
	return isTCP && ta.IP.IsLoopback()
}
