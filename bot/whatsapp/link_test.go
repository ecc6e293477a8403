package whatsapp_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"sewa/bot/whatsapp"
)

func TestLinkWithQRCode(t *testing.T) {
	fake := newFake()
	fake.qr = []whatsmeow.QRChannelItem{
		{Event: whatsmeow.QRChannelEventCode, Code: "2@first", Timeout: 60 * time.Second},
		{Event: whatsmeow.QRChannelEventCode, Code: "2@second", Timeout: 20 * time.Second},
		whatsmeow.QRChannelSuccess,
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	jid, err := whatsapp.Link(ctx, fake, "", &out)
	if err != nil {
		t.Fatal(err)
	}
	if jid.String() != asha+"@s.whatsapp.net" {
		t.Errorf("linked %s", jid)
	}
	if n := strings.Count(out.String(), "scan this code"); n != 2 {
		t.Errorf("%d QR codes shown, want 2:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "█") && !strings.Contains(out.String(), "▀") {
		t.Errorf("no QR code drawn:\n%s", out.String())
	}
	if fake.IsConnected() {
		t.Error("still connected after linking")
	}
	// Messages arriving while linking are left for the running Sewa.
	if fake.emit(&events.Message{}) {
		t.Error("a message during linking was acknowledged")
	}
}

func TestLinkWithPhoneNumber(t *testing.T) {
	fake := newFake()
	fake.qr = []whatsmeow.QRChannelItem{
		{Event: whatsmeow.QRChannelEventCode, Code: "2@first"},
		{Event: whatsmeow.QRChannelEventCode, Code: "2@second"},
		whatsmeow.QRChannelSuccess,
	}
	var out bytes.Buffer
	if _, err := whatsapp.Link(context.Background(), fake, "+91 98123-45678", &out); err != nil {
		t.Fatal(err)
	}
	if fake.pairPhone != asha {
		t.Errorf("paired %q", fake.pairPhone)
	}
	if strings.Count(out.String(), "ABCD-EFGH") != 1 || strings.Contains(out.String(), "scan") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestLinkFailures(t *testing.T) {
	cases := []struct {
		name  string
		qr    []whatsmeow.QRChannelItem
		conn  error
		phone string
		want  error
	}{
		{"no network", nil, errors.New("dial tcp: lookup web.whatsapp.com: no such host"), "", whatsapp.ErrUnreachable},
		{"codes ran out", []whatsmeow.QRChannelItem{{Event: whatsmeow.QRChannelEventCode, Code: "2@x"}, whatsmeow.QRChannelTimeout}, nil, "", whatsapp.ErrLinkTimeout},
		{"bad phone", nil, nil, "09812345678", whatsapp.ErrBadPhone},
		{"pairing error", []whatsmeow.QRChannelItem{{Event: whatsmeow.QRChannelEventError, Error: whatsmeow.ErrPairInvalidDeviceSignature}}, nil, "", whatsmeow.ErrPairInvalidDeviceSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake()
			fake.qr = c.qr
			if c.conn != nil {
				fake.connectErr = []error{c.conn}
			}
			var out bytes.Buffer
			_, err := whatsapp.Link(context.Background(), fake, c.phone, &out)
			if !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}

	t.Run("nobody scans", func(t *testing.T) {
		fake := newFake()
		fake.qr = []whatsmeow.QRChannelItem{{Event: whatsmeow.QRChannelEventCode, Code: "2@x"}}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := whatsapp.Link(ctx, fake, "", &bytes.Buffer{}); !errors.Is(err, whatsapp.ErrLinkTimeout) {
			t.Errorf("got %v", err)
		}
	})
}

func TestUnlink(t *testing.T) {
	forgot := 0
	forget := func(context.Context) error { forgot++; return nil }

	fake := newFake()
	if err := whatsapp.Unlink(context.Background(), fake, forget); err != nil || !fake.loggedOut || forgot != 0 {
		t.Errorf("online: %v, logged out %v, forgot %d", err, fake.loggedOut, forgot)
	}

	fake = newFake()
	fake.connectErr = []error{errors.New("dial tcp: no route to host")}
	err := whatsapp.Unlink(context.Background(), fake, forget)
	if !errors.Is(err, whatsapp.ErrUnreachable) || forgot != 1 || !strings.Contains(err.Error(), "Linked devices") {
		t.Errorf("offline: %v, forgot %d", err, forgot)
	}
}
