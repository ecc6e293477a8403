package fakeapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot/telegram/fakeapi"
	_ "sewa/internal/golden" // declares -update for go test ./... -update
)

const token = "4242:fake-TOKEN"

// call posts form values to a Bot API method and returns status and body.
func call(t *testing.T, s *fakeapi.Server, tok, method string, form url.Values) (int, string) {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL()+"/bot"+tok+"/"+method, form)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// result decodes the envelope and its result.
func result(t *testing.T, body string, into any) {
	t.Helper()
	var env struct {
		Ok     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || !env.Ok {
		t.Fatalf("not ok: %s (%v)", body, err)
	}
	if into != nil {
		if err := json.Unmarshal(env.Result, into); err != nil {
			t.Fatalf("result %s: %v", env.Result, err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestEnvelopes(t *testing.T) {
	s := fakeapi.New(t, token)
	cases := []struct {
		name, tok, method string
		form              url.Values
		status            int
		body              string
	}{
		{"getMe", token, "getMe", nil, 200,
			`{"ok":true,"result":{"id":7000001,"is_bot":true,"first_name":"Sewa Test","username":"sewa_test_bot","can_join_groups":false,"can_read_all_group_messages":false,"supports_inline_queries":false}}`},
		{"wrong token", "4242:wrong", "getMe", nil, 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`},
		{"unknown chat", token, "sendMessage", url.Values{"chat_id": {"99"}, "text": {"hi"}}, 400,
			`{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`},
		{"no updates", token, "getUpdates", url.Values{"timeout": {"0"}}, 200, `{"ok":true,"result":[]}`},
		{"webhook info", token, "getWebhookInfo", nil, 200, `{"ok":true,"result":{"url":"","has_custom_certificate":false,"pending_update_count":0}}`},
		{"delete webhook", token, "deleteWebhook", nil, 200, `{"ok":true,"result":true,"description":"Webhook is already deleted"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := call(t, s, c.tok, c.method, c.form)
			if status != c.status || body != c.body {
				t.Errorf("got %d %s\nwant %d %s", status, body, c.status, c.body)
			}
		})
	}
}

func TestUpdatesOffsetAndLongPoll(t *testing.T) {
	s := fakeapi.New(t, token)
	a := s.SayText(1, "one")
	b := s.SayText(2, "/start")
	var ups []tgbotapi.Update
	_, body := call(t, s, token, "getUpdates", nil)
	result(t, body, &ups)
	if len(ups) != 2 || int64(ups[0].UpdateID) != a || int64(ups[1].UpdateID) != b {
		t.Fatalf("updates %s", body)
	}
	if ups[1].Message.Text != "/start" || !ups[1].Message.IsCommand() || ups[1].Message.Chat.Type != "private" {
		t.Errorf("second update %+v", ups[1].Message)
	}
	// The same offset gives the same updates; a higher one confirms.
	_, body = call(t, s, token, "getUpdates", url.Values{"offset": {itoa(a)}})
	result(t, body, &ups)
	if len(ups) != 2 {
		t.Fatalf("same offset: %s", body)
	}
	_, body = call(t, s, token, "getUpdates", url.Values{"offset": {itoa(b)}})
	result(t, body, &ups)
	if len(ups) != 1 || s.Pending() != 1 || s.Confirmed() != b {
		t.Fatalf("offset b: %s pending %d", body, s.Pending())
	}
	// A long poll waits for the next update.
	done := make(chan []tgbotapi.Update)
	go func() {
		var ups []tgbotapi.Update
		_, body := call(t, s, token, "getUpdates", url.Values{"offset": {itoa(b + 1)}, "timeout": {"10"}})
		result(t, body, &ups)
		done <- ups
	}()
	waitFor(t, "the poll to wait", s.Polling)
	c := s.SayText(1, "three")
	select {
	case ups := <-done:
		if len(ups) != 1 || int64(ups[0].UpdateID) != c {
			t.Fatalf("long poll got %+v", ups)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not return")
	}
	if got := s.Calls("getUpdates"); got[len(got)-1].Returned[0] != c {
		t.Errorf("Returned = %v", got[len(got)-1].Returned)
	}
	// A timeout with nothing new returns [].
	start := time.Now()
	status, body := call(t, s, token, "getUpdates", url.Values{"offset": {itoa(c + 1)}, "timeout": {"1"}})
	if status != 200 || body != `{"ok":true,"result":[]}` || time.Since(start) < 900*time.Millisecond {
		t.Errorf("timeout poll: %d %s after %v", status, body, time.Since(start))
	}
}

func itoa(n int64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSecondPollerConflicts(t *testing.T) {
	s := fakeapi.New(t, token)
	first := make(chan int)
	go func() {
		status, _ := call(t, s, token, "getUpdates", url.Values{"timeout": {"10"}})
		first <- status
	}()
	waitFor(t, "the first poll", s.Polling)
	call(t, s, token, "getUpdates", nil)
	if status := <-first; status != 409 {
		t.Errorf("first poll got %d, want 409", status)
	}
}

func TestSendEditPressAnswer(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddUser(fakeapi.User{ID: 5, FirstName: "Ravi"})
	kb := `{"inline_keyboard":[[{"text":"Yes","callback_data":"y"},{"text":"No","callback_data":"n"}]]}`
	_, body := call(t, s, token, "sendMessage", url.Values{"chat_id": {"5"}, "text": {"Approve?"}, "reply_markup": {kb}})
	var m tgbotapi.Message
	result(t, body, &m)
	if m.MessageID != 1 || m.ReplyMarkup == nil || *m.ReplyMarkup.InlineKeyboard[0][1].CallbackData != "n" || m.From.UserName != "sewa_test_bot" {
		t.Fatalf("sent %s", body)
	}
	if sent := s.Sent(); len(sent) != 1 || sent[0].String() != "5: Approve? [Yes] [No]" {
		t.Fatalf("Sent = %v", sent)
	}
	id, err := s.PressLabel(5, "No")
	if err != nil {
		t.Fatal(err)
	}
	var ups []tgbotapi.Update
	_, body = call(t, s, token, "getUpdates", nil)
	result(t, body, &ups)
	cq := ups[0].CallbackQuery
	if int64(ups[0].UpdateID) != id || cq == nil || cq.Data != "n" || cq.Message.MessageID != 1 || cq.Message.ReplyMarkup == nil || cq.From.FirstName != "Ravi" {
		t.Fatalf("press %s", body)
	}
	if status, _ := call(t, s, token, "answerCallbackQuery", url.Values{"callback_query_id": {cq.ID}}); status != 200 {
		t.Errorf("answer: %d", status)
	}
	if status, _ := call(t, s, token, "answerCallbackQuery", url.Values{"callback_query_id": {cq.ID}}); status != 400 {
		t.Errorf("second answer: %d, want 400", status)
	}
	if ok, _ := s.CallbackAnswered(id); !ok {
		t.Error("CallbackAnswered = false")
	}
	form := url.Values{"chat_id": {"5"}, "message_id": {"1"}, "text": {"Approve?\n✓ No"}, "reply_markup": {`{"inline_keyboard":[]}`}}
	if status, body := call(t, s, token, "editMessageText", form); status != 200 {
		t.Fatalf("edit: %s", body)
	}
	if status, body := call(t, s, token, "editMessageText", form); status != 400 || !strings.Contains(body, "message is not modified") {
		t.Errorf("same edit: %d %s", status, body)
	}
	got, _ := s.Message(5, 1)
	if got.Text != "Approve?\n✓ No" || len(got.Buttons) != 0 || got.Edits != 1 {
		t.Errorf("after edit: %+v", got)
	}
	// The same text again counts as a duplicate.
	call(t, s, token, "sendMessage", url.Values{"chat_id": {"5"}, "text": {"Approve?"}})
	if s.Duplicates() != 1 {
		t.Errorf("Duplicates = %d", s.Duplicates())
	}
}

func TestFailuresAndLimits(t *testing.T) {
	s := fakeapi.New(t, token, fakeapi.WithLimits(0, 1))
	s.AddUser(fakeapi.User{ID: 5, FirstName: "Ravi"})
	send := func() (int, string) {
		return call(t, s, token, "sendMessage", url.Values{"chat_id": {"5"}, "text": {"hi"}})
	}
	s.FailNext("sendMessage", 1, fakeapi.TooManyRequests(3))
	if status, body := send(); status != 429 || body != `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}` {
		t.Errorf("injected 429: %d %s", status, body)
	}
	s.FailNext("", 1, fakeapi.Blocked)
	if status, body := send(); status != 403 || !strings.Contains(body, "bot was blocked by the user") {
		t.Errorf("blocked: %d %s", status, body)
	}
	s.FailNext("sendMessage", 1, fakeapi.BadGateway)
	if status, body := send(); status != 502 || !strings.HasPrefix(body, "<html>") {
		t.Errorf("502: %d %s", status, body)
	}
	s.FailLater("sendMessage", 1, 1, fakeapi.ServerError)
	if status, _ := send(); status != 200 {
		t.Errorf("first send after FailLater: %d", status)
	}
	if status, _ := send(); status != 500 {
		t.Errorf("second send after FailLater: %d", status)
	}
	// The per-chat limit: the send above was less than a second ago.
	status, body := send()
	if status != 429 || !strings.Contains(body, `"retry_after":1`) || s.RateLimited() != 1 {
		t.Errorf("limit: %d %s, RateLimited %d", status, body, s.RateLimited())
	}
	s.FailNext("sendMessage", 1, fakeapi.Dropped)
	if _, err := s.Client().PostForm(s.URL()+"/bot"+token+"/sendMessage", url.Values{"chat_id": {"5"}, "text": {"x"}}); err == nil {
		t.Error("a dropped connection gave no error")
	}
	s.Block(5)
	if status, _ := send(); status != 403 {
		t.Errorf("Block: %d", status)
	}
	if s.TooManyRequestsAnswered() != 2 {
		t.Errorf("TooManyRequestsAnswered = %d", s.TooManyRequestsAnswered())
	}
}

func TestPhotoUploadAndDownload(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddUser(fakeapi.User{ID: 5, FirstName: "Ravi"})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("chat_id", "5")
	mw.WriteField("caption", "delivered")
	fw, _ := mw.CreateFormFile("photo", "proof.jpg")
	fw.Write([]byte("JPEG DATA"))
	mw.Close()
	resp, err := s.Client().Post(s.URL()+"/bot"+token+"/sendPhoto", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m tgbotapi.Message
	result(t, string(body), &m)
	if len(m.Photo) != 3 || m.Caption != "delivered" {
		t.Fatalf("sendPhoto: %s", body)
	}
	if sent := s.Sent(); sent[0].File != "proof.jpg" || sent[0].FileSize != 9 || sent[0].Method != "sendPhoto" {
		t.Errorf("Sent = %+v", sent)
	}
	// A user's photo: getFile, then download the largest size.
	s.Photo(5, "list", []byte("USER PHOTO"))
	var ups []tgbotapi.Update
	_, b := call(t, s, token, "getUpdates", nil)
	result(t, b, &ups)
	sizes := ups[0].Message.Photo
	var f tgbotapi.File
	_, b = call(t, s, token, "getFile", url.Values{"file_id": {sizes[len(sizes)-1].FileID}})
	result(t, b, &f)
	resp, err = s.Client().Get(s.URL() + "/file/bot" + token + "/" + f.FilePath)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != "USER PHOTO" {
		t.Errorf("download = %q", data)
	}
	if resp, _ := s.Client().Get(s.URL() + "/file/botWRONG/" + f.FilePath); resp.StatusCode != 401 {
		t.Errorf("download with a wrong token: %d", resp.StatusCode)
	}
}

func TestWebhookDelivery(t *testing.T) {
	s := fakeapi.New(t, token)
	var fails atomic.Int32
	fails.Store(1)
	got := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != "s3cret" {
			w.WriteHeader(401)
			return
		}
		if fails.Add(-1) >= 0 {
			w.WriteHeader(500)
			return
		}
		var u tgbotapi.Update
		json.NewDecoder(r.Body).Decode(&u)
		got <- u.Message.Text
	}))
	defer hook.Close()
	if status, body := call(t, s, token, "setWebhook", url.Values{"url": {hook.URL}, "secret_token": {"s3cret"}}); status != 200 {
		t.Fatalf("setWebhook: %s", body)
	}
	if status, _ := call(t, s, token, "getUpdates", nil); status != 409 {
		t.Errorf("getUpdates with a webhook: %d, want 409", status)
	}
	s.SayText(1, "hello")
	select {
	case text := <-got:
		if text != "hello" {
			t.Errorf("delivered %q", text)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not delivered")
	}
	waitFor(t, "delivery count", func() bool { return s.Delivered() == 1 && s.Pending() == 0 })
	info, secret := s.Webhook()
	if info.URL != hook.URL || secret != "s3cret" || !strings.Contains(info.LastErrorMessage, "500") {
		t.Errorf("Webhook() = %+v %q", info, secret)
	}
	call(t, s, token, "deleteWebhook", nil)
	if status, _ := call(t, s, token, "getUpdates", nil); status != 200 {
		t.Errorf("getUpdates after deleteWebhook: %d", status)
	}
}

func TestCommands(t *testing.T) {
	s := fakeapi.New(t, token)
	if status, body := call(t, s, token, "setMyCommands", url.Values{"commands": {`[{"command":"start","description":"Start"}]`}, "language_code": {"hi"}}); status != 200 {
		t.Fatal(body)
	}
	if status, _ := call(t, s, token, "setMyCommands", url.Values{"commands": {`[{"command":"Bad Name","description":"x"}]`}}); status != 400 {
		t.Errorf("invalid command accepted")
	}
	if got := s.Commands("hi"); len(got) != 1 || got[0].Command != "start" {
		t.Errorf("Commands(hi) = %v", got)
	}
}

func TestLoopbackTransport(t *testing.T) {
	c := &http.Client{Transport: fakeapi.LoopbackTransport(), Timeout: 2 * time.Second}
	_, err := c.Get("http://192.0.2.1/")
	if err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Errorf("a non-loopback host was not refused: %v", err)
	}
}

func TestControlEndpoints(t *testing.T) {
	s := fakeapi.New(t, token)
	post := func(path, body string) string {
		resp, err := s.Client().Post(s.URL()+"/_fake/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := post("say", `{"chat_id":9,"text":"hi"}`); !strings.Contains(got, `"update_id":700000001`) {
		t.Errorf("say: %s", got)
	}
	post("fail", `{"method":"getMe","code":500,"description":"Internal Server Error"}`)
	if status, _ := call(t, s, token, "getMe", nil); status != 500 {
		t.Errorf("control fail: %d", status)
	}
	resp, _ := s.Client().Get(s.URL() + "/_fake/stats")
	var st fakeapi.Stats
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Pending != 1 {
		t.Errorf("stats = %+v", st)
	}
}
