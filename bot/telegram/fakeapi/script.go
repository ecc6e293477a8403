package fakeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Scripting: each method queues one update (or several, for an album) as the
// user chatID would cause it, and returns its update_id. Users are private
// chats whose id is the user id; unknown users are registered with a default
// name (see AddUser).

// queueLocked assigns the next update_id to u and queues it.
func (s *Server) queueLocked(u Update) int64 {
	u.UpdateID = s.nextUpdate
	s.nextUpdate++
	raw, err := marshal(u)
	if err != nil {
		panic(err)
	}
	s.pushLocked(u.UpdateID, raw)
	return u.UpdateID
}

func (s *Server) pushLocked(id int64, raw []byte) {
	s.pending = append(s.pending, queued{id: id, raw: raw})
	close(s.wake)
	s.wake = make(chan struct{})
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// userMessageLocked builds a message from the user of chatID.
func (s *Server) userMessageLocked(chatID int64) (*chat, Message) {
	c := s.chatLocked(chatID)
	c.nextMsg++
	from := c.user
	return c, Message{MessageID: c.nextMsg, From: &from, Chat: c.wire(), Date: s.now().Unix()}
}

func (s *Server) queueMessage(chatID int64, fill func(*Message)) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, m := s.userMessageLocked(chatID)
	fill(&m)
	c.messages[m.MessageID] = &stored{msg: m}
	return s.queueLocked(Update{Message: &m})
}

// SayText queues a text message from chatID. A leading /command gets its
// bot_command entity, as Telegram adds it.
func (s *Server) SayText(chatID int64, text string) int64 {
	return s.queueMessage(chatID, func(m *Message) {
		m.Text, m.Entities = text, entities(text)
	})
}

// entities marks a leading /command (offsets in UTF-16 units, as Telegram).
func entities(text string) []Entity {
	if !strings.HasPrefix(text, "/") {
		return nil
	}
	word, _, _ := strings.Cut(text, " ")
	word, _, _ = strings.Cut(word, "\n")
	return []Entity{{Offset: 0, Length: len(utf16.Encode([]rune(word))), Type: "bot_command"}}
}

// EditText queues an edited_message update: the user edited their message
// messageID to text.
func (s *Server) EditText(chatID int64, messageID int, text string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chatLocked(chatID)
	st, found := c.messages[messageID]
	var m Message
	if found && !st.fromBot {
		m = st.msg
	} else {
		from := c.user
		m = Message{MessageID: messageID, From: &from, Chat: c.wire(), Date: s.now().Unix()}
	}
	m.Text, m.Entities, m.EditDate = text, entities(text), s.now().Unix()
	return s.queueLocked(Update{EditedMessage: &m})
}

// Press queues a callback query: the user of chatID pressed the inline
// button with data on the bot's message messageID. The query carries the
// message as it is now (text and keyboard), as on Telegram.
func (s *Server) Press(chatID int64, messageID int, data string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pressLocked(chatID, messageID, data)
}

func (s *Server) pressLocked(chatID int64, messageID int, data string) int64 {
	c := s.chatLocked(chatID)
	var msg *Message
	if st, found := c.messages[messageID]; found {
		m := st.msg
		msg = &m
	} else {
		bot := s.bot
		msg = &Message{MessageID: messageID, From: &bot, Chat: c.wire(), Date: s.now().Unix()}
	}
	s.counter++
	id := strconv.FormatInt(chatID*1000003+s.counter*7777, 10)
	id = strings.TrimPrefix(id, "-")
	cq := CallbackQuery{ID: id, From: c.user, Message: msg, ChatInstance: c.instance, Data: data}
	u := s.queueLocked(Update{CallbackQuery: &cq})
	s.callbacks[id] = &callback{updateID: u}
	return u
}

// PressLabel presses the button labelled label on the newest message the
// bot sent to chatID that has such a button.
func (s *Server) PressLabel(chatID int64, label string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, found := s.chats[chatID]
	if !found {
		return 0, fmt.Errorf("fakeapi: no chat %d", chatID)
	}
	for id := c.nextMsg; id > 0; id-- {
		st, found := c.messages[id]
		if !found || !st.fromBot {
			continue
		}
		for _, row := range st.sent.Buttons {
			for _, b := range row {
				if b.Text == label && b.Data != "" {
					return s.pressLocked(chatID, id, b.Data), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("fakeapi: no button %q in chat %d", label, chatID)
}

// Photo queues a photo (JPEG bytes) with an optional caption. Telegram sends
// three sizes; only the largest carries data.
func (s *Server) Photo(chatID int64, caption string, data []byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, m := s.userMessageLocked(chatID)
	m.Photo, m.Caption = s.photoSizes(data), caption
	c.messages[m.MessageID] = &stored{msg: m}
	return s.queueLocked(Update{Message: &m})
}

// Album queues photos sent together (one media_group_id), one update per
// photo, the caption on the first, as Telegram sends them.
func (s *Server) Album(chatID int64, caption string, photos ...[]byte) []int64 {
	group := s.NewMediaGroup()
	var ids []int64
	for i, data := range photos {
		if i > 0 {
			caption = ""
		}
		ids = append(ids, s.AlbumPhoto(chatID, group, caption, data))
	}
	return ids
}

// NewMediaGroup returns a fresh media_group_id, for AlbumPhoto.
func (s *Server) NewMediaGroup() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counter++
	return fmt.Sprintf("1354%013d", s.counter)
}

// AlbumPhoto queues one photo of the album group (see NewMediaGroup), so a
// test can make the rest of an album arrive later.
func (s *Server) AlbumPhoto(chatID int64, group, caption string, data []byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, m := s.userMessageLocked(chatID)
	m.Photo, m.MediaGroupID, m.Caption = s.photoSizes(data), group, caption
	c.messages[m.MessageID] = &stored{msg: m}
	return s.queueLocked(Update{Message: &m})
}

// Contact queues the user's own contact, as the "share my number" button
// sends it (phone without "+", as Telegram sends it).
func (s *Server) Contact(chatID int64, phone string) int64 {
	return s.queueMessage(chatID, func(m *Message) {
		m.Contact = &Contact{PhoneNumber: phone, FirstName: m.From.FirstName, LastName: m.From.LastName, UserID: m.From.ID}
	})
}

// Location queues a shared location.
func (s *Server) Location(chatID int64, lat, lon float64) int64 {
	return s.queueMessage(chatID, func(m *Message) {
		m.Location = &Location{Latitude: lat, Longitude: lon}
	})
}

// Sticker queues a sticker.
func (s *Server) Sticker(chatID int64) int64 {
	s.mu.Lock()
	f := s.newFile("stickers", ".webp", []byte("RIFF sticker"))
	s.mu.Unlock()
	return s.queueMessage(chatID, func(m *Message) {
		m.Sticker = &Sticker{Width: 512, Height: 512, Emoji: "👍", SetName: "HotCherry", Type: "regular", FileID: f.FileID, FileUniqueID: f.FileUniqueID, FileSize: f.FileSize}
	})
}

// Voice queues a voice note.
func (s *Server) Voice(chatID int64, seconds int) int64 {
	s.mu.Lock()
	f := s.newFile("voice", ".oga", []byte("OggS voice"))
	s.mu.Unlock()
	return s.queueMessage(chatID, func(m *Message) {
		m.Voice = &Voice{Duration: seconds, MimeType: "audio/ogg", FileID: f.FileID, FileUniqueID: f.FileUniqueID, FileSize: f.FileSize}
	})
}

// Document queues a file sent as a document (mimeType "" guesses from name).
func (s *Server) Document(chatID int64, name, mimeType, caption string, data []byte) int64 {
	s.mu.Lock()
	doc := s.document(name, mimeType, data)
	s.mu.Unlock()
	return s.queueMessage(chatID, func(m *Message) {
		m.Document, m.Caption = doc, caption
	})
}

// PushJSON queues a raw update (for example a real payload from testdata).
// Its update_id is replaced by the next one, which PushJSON returns; the
// private chat it comes from is registered so the bot can answer.
func (s *Server) PushJSON(raw []byte) (int64, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var u map[string]any
	if err := dec.Decode(&u); err != nil {
		return 0, fmt.Errorf("fakeapi: update: %w", err)
	}
	if len(u) == 0 {
		return 0, errors.New("fakeapi: empty update")
	}
	var probe struct {
		Message *struct {
			From *User `json:"from"`
			Chat Chat  `json:"chat"`
		} `json:"message"`
		CallbackQuery *struct {
			ID   string `json:"id"`
			From User   `json:"from"`
		} `json:"callback_query"`
	}
	json.Unmarshal(raw, &probe)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := probe.Message; m != nil && m.Chat.Type == "private" && m.From != nil {
		c := s.chatLocked(m.Chat.ID)
		c.user = *m.From
	}
	id := s.nextUpdate
	s.nextUpdate++
	u["update_id"] = id
	out, err := marshal(u)
	if err != nil {
		return 0, err
	}
	if cq := probe.CallbackQuery; cq != nil && cq.ID != "" {
		s.chatLocked(cq.From.ID)
		s.callbacks[cq.ID] = &callback{updateID: id}
	}
	s.pushLocked(id, out)
	return id, nil
}
