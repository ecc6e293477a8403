// Package bot is Sewa's runtime. It turns a channel's inbound Message into
// engine input (who is this, what are they doing), routes commands by role,
// runs everything one message causes in one store transaction, carries out
// the engine's effects (cards, events, actions, notifications, replies into
// the outbox) and drains the outbox to the channels after commit, paced and
// retried.
//
// The adapters in bot/console, bot/telegram and bot/whatsapp implement
// Channel; nothing here formats text for one channel only.
package bot
