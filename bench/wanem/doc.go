// Package wanem emulates a wide-area network between two network
// namespaces on one Linux machine, for benchmarks that need latency, loss
// and limited bandwidth (kernel netem is not needed).
//
// [New] creates a [Link]: two namespaces named "wanem-<pid>-<n>-a" and
// "…-b" (side A may instead be the calling process's own namespace, see
// [Options].HostA), a TUN device in each with an IPv6 ULA address
// (fd77::/16, a /64 per link) and an IPv4 address (a /30 of 198.18.0.0/15,
// the benchmarking range), and two goroutines per direction that move
// packets between the TUN devices. Each direction has its own [Shape]:
// one-way delay, jitter (in order unless Reorder), random loss,
// Gilbert–Elliott bursty loss, a bandwidth cap (serialization at Rate with
// a tail-drop queue of QueueLimit bytes, so bufferbloat shows as queueing
// delay), and UDP blocking or extra UDP delay. [Link.Counters] counts
// packets forwarded and dropped, by reason.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. Here no field gives a negative value a meaning: [New],
// [Link.SetShape] and [Link.SelfCheck] reject them.
//
// # Running code on a side
//
// A network namespace belongs to an OS thread, not to a process or a
// goroutine. [Side.Do] runs a function on a locked thread switched into
// the side's namespace and switches back after; goroutines the function
// starts run in the process's own namespace. A socket keeps the namespace
// it was created in, so create listeners, packet sockets and dialed
// connections inside Do (or with [Side.Listen], [Side.ListenPacket],
// [Side.DialContext]) and use them from any goroutine:
//
//	ln, err := link.B.Listen("tcp", "["+link.B.Addr6.String()+"]:0")
//	go srv.Serve(ln) // serves side B's namespace
//	conn, err := link.A.DialContext(ctx, "tcp", ln.Addr().String())
//
// Libraries that dial on goroutines of their own (an http.Transport
// without a DialContext hook, a quic-go Transport opening its UDP socket)
// cannot be moved into a namespace this way; with Options.HostA, side A is
// the process's namespace, so such a client needs nothing special and
// reaches side B's addresses through the link. [Side.Start] starts a whole
// process on a side (as `ip netns exec` does); the wanem command does the
// same from a shell.
//
// # Accuracy
//
// [Link.SelfCheck] measures the link against its settings (UDP echo RTT
// within 5%, loss within ±1 point over 10,000 packets, bandwidth within
// 10%); reports print it. New measures the latency the forwarder and the
// sockets add on their own (mostly waking idle threads) and subtracts it
// from Delay, so an application measures the RTT it set; a link shorter
// than that latency cannot be emulated.
//
// # Cleanup and permissions
//
// The emulator needs root and /dev/net/tun; [New] returns an error
// wrapping [ErrUnavailable] otherwise ([Available] says why). [Link.Close]
// removes the devices and namespaces. TUN devices disappear with the
// process; namespaces of a process that died without closing its link are
// removed by [RemoveStale], which New calls. Nothing whose name does not
// start with [Prefix] is touched.
package wanem
