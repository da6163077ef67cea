// Copyright otelcol-custom authors
// SPDX-License-Identifier: Apache-2.0

package prometheusremotewriteexporter // import "github.com/otelcol-custom/otelcol-custom/exporter/prometheusremotewriteexporter"

import (
	"math/bits"
	"net/http"
	"sync"
)

// numLanes is the number of ordering lanes. Every series belongs to one lane (the hash of its
// labels), always the same one. A request carries the series of a set of lanes and is sent only
// once every earlier request sharing one of its lanes has finished (delivered or dropped), so the
// samples of a series reach the backend in the order they were handed off, whichever requests
// carry them. How many requests an export is cut into is therefore free: a small export is one
// request covering all lanes, a large one is cut into up to `shards` parts, each covering a
// fixed subset of the lanes, sent concurrently.
const numLanes = 64

// laneSet is a set of lanes, one bit per lane.
type laneSet uint64

// partLanes is the set of lanes of part p when an export is cut into k parts: lane l belongs to
// part l mod k.
func partLanes(k, p int) laneSet {
	var s laneSet
	for l := p; l < numLanes; l += k {
		s |= 1 << l
	}
	return s
}

// laneScheduler sends the requests of one partition (one tenant with include_metadata_keys): at
// most `shards` at once, each after the earlier requests on its lanes. Partitions have separate
// schedulers, so a tenant whose requests are being retried does not hold back another's.
type laneScheduler struct {
	e    *prwExporter
	part *partition

	mu   sync.Mutex
	last [numLanes]*laneRequest // the newest request of each lane

	senders chan struct{} // one token per concurrent request
	queued  chan struct{} // bounds requests handed off and not yet finished (memory)
	wg      sync.WaitGroup

	// send delivers a request: prwExporter.sendBatch, or a recorder in unit tests.
	send func(p *partition, b *batch, headers http.Header) error
}

// laneRequest is one request (batch) on its way through the scheduler.
type laneRequest struct {
	batch *batch
	call  *exportCall
	after []*laneRequest // requests that must finish first
	done  chan struct{}  // closed when finished
}

func newLaneScheduler(e *prwExporter, part *partition, senders int) *laneScheduler {
	return &laneScheduler{
		e:       e,
		part:    part,
		senders: make(chan struct{}, senders),
		queued:  make(chan struct{}, 3*senders),
		send:    e.sendBatch,
	}
}

// submit hands b (carrying series of lanes) to the scheduler. Submissions happen in hand-off
// order (one export at a time holds the turn), which is the order requests of a lane are sent in.
// It blocks while too many requests are waiting; they all finish eventually (retries end at
// max_elapsed_time or at shutdown), and none of them waits for this one.
func (s *laneScheduler) submit(b *batch, lanes laneSet, call *exportCall) {
	s.queued <- struct{}{}
	r := &laneRequest{batch: b, call: call, done: make(chan struct{})}
	s.mu.Lock()
	for rest := lanes; rest != 0; rest &= rest - 1 {
		l := bits.TrailingZeros64(uint64(rest))
		if prev := s.last[l]; prev != nil && !finished(prev) && !containsRequest(r.after, prev) {
			r.after = append(r.after, prev)
		}
		s.last[l] = r
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.run(r)
}

func finished(r *laneRequest) bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func containsRequest(rs []*laneRequest, r *laneRequest) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func (s *laneScheduler) run(r *laneRequest) {
	defer s.wg.Done()
	for _, prev := range r.after {
		<-prev.done
	}
	r.after = nil
	s.senders <- struct{}{}
	err := s.send(s.part, r.batch, r.call.headers)
	<-s.senders
	s.e.putBatch(r.batch)
	r.batch = nil
	close(r.done)
	<-s.queued
	r.call.done(err)
}

// wait returns when every submitted request has finished.
func (s *laneScheduler) wait() { s.wg.Wait() }
