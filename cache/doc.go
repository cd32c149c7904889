// Package cache holds the two caches on the execution hot path: the
// validation cache (message bytes → decoded, schema-checked message or its
// rejection) and the decision cache (principal, capability, arguments →
// the policy's decision). Both sit on ristretto (TinyLFU admission,
// sampled-LFU eviction, memory bounded by a configured cost in bytes).
//
// # Keys and safety
//
// A cached verdict is only as good as its key. Every key carries an epoch
// supplied by the caller — a digest of the capability registry for
// validation, and of the registry and the policy for decisions — so after a
// reload no lookup can reach a verdict computed under the old rules: the
// hash differs, and even if it collided, the full comparison below would
// fail. Keys are 64-bit hashes from hash/maphash with a per-process random
// seed, which an attacker cannot predict, and every hit is confirmed by
// comparing the stored epoch and the complete input (message bytes, or
// principal, capability and argument bytes) with the request's. A crafted
// message therefore cannot collide into another message's cached verdict:
// at worst a collision costs a miss.
//
// In shadow mode (a candidate policy evaluated beside the active one) a
// decision entry carries both verdicts (GetPair, PutPair) under an epoch
// that covers both policies: the candidate costs no second lookup, and
// replacing either policy leaves no pair behind. Entries of one kind never
// answer a lookup of the other.
//
// Sets are asynchronous (ristretto buffers them), so a value put is not
// always visible to the very next Get; callers must treat the caches as
// hints that never change a result, only its cost. Wait blocks until
// buffered sets are applied (for tests).
//
// # Costs
//
// Each entry's cost is the bytes it keeps alive (for a validation entry,
// the decoded message's footprint: input copy, node tree, unescaped
// strings; plus a fixed overhead), so Config.ValidationBytes and
// Config.DecisionBytes bound memory, not entry counts. A negative size
// turns a cache off (every Get misses, every Put is dropped); zero takes
// the default.
//
// An input is admitted on its second sighting only (a doorkeeper table of
// recent key hashes): unique inputs, the bulk of agent traffic, then cost
// a lookup and one atomic store instead of a ristretto Set each.
//
// All methods are safe for concurrent use. Close releases ristretto's
// goroutines; the owner (pipeline.Runtime) calls it once.
package cache
