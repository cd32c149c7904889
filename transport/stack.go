package transport

// growStack makes the calling goroutine's stack at least about 8 KiB
// before the request is handled: a frame of growStackFrame bytes does not
// fit a smaller stack, so the runtime grows it here, in one step, while
// the stack is still shallow.
//
// Why: quic-go runs each request on a fresh goroutine, which starts with
// the runtime's adaptive starting stack (the GC's average of the stacks
// it scanned; small, because quic-go also starts two tiny
// context.AfterFunc goroutines per request). Without this the stack grew
// deep inside the request, in http3's frame parser while the body was
// read: a copy of ~4 KiB and a walk of every frame's stack map
// (runtime.newstack ≈ 6 % of the server's CPU under load, 3.3 µs a
// request at 1 × 256). Grown here the copy is of the few frames above
// ServeHTTP. See doc.go's budget for the measured effect.
//
//go:noinline
func growStack() byte {
	var b [growStackFrame]byte
	b[growStackSink&(growStackFrame-1)] = 1
	return b[(growStackSink+1)&(growStackFrame-1)]
}

// growStackFrame is the frame growStack needs: with the ~2.5 KiB quic-go
// and ServeHTTP hold when it runs, and the runtime's guard, it takes a
// stack of 4 KiB or less to 8 KiB, the depth a request reaches.
const growStackFrame = 4 << 10

// growStackSink keeps the compiler from eliding growStack's frame.
var growStackSink = 7
