// Package flows owns what the work looks like: the flow definitions (stages,
// questions, guides, roles, stale-after durations and the names of actions),
// the pure step engine that moves a conversation and a card along them, the
// validation of answers, the message catalog in English and Hindi, and the
// bank-SMS parser.
//
// Nothing here does I/O or reads the clock: time and input are arguments, and
// what should happen comes back as Effects for the caller to carry out.
package flows
