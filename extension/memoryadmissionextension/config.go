package memoryadmissionextension // import "github.com/otelcol-custom/otelcol-custom/extension/memoryadmissionextension"

import (
	"errors"
	"fmt"
)

// Config of the memory_admission extension.
type Config struct {
	// LimitMiB is the Go heap (objects live and not yet collected, as runtime/metrics
	// /memory/classes/heap/objects:bytes counts them) plus the reservations of requests in
	// flight above which new requests are refused.
	LimitMiB uint64 `mapstructure:"limit_mib"`
	// LimitPercentage sets the limit as a share of GOMEMLIMIT instead (the Go runtime's soft memory
	// limit, read at start), so one number, set from the container's memory limit, sizes both.
	LimitPercentage uint32 `mapstructure:"limit_percentage"`
	// RequestReserveMiB is set aside for every admitted request until it is answered, so that
	// requests admitted together cannot overshoot the limit before their memory shows in the
	// heap. Size it for the largest decoded request the receivers accept (their
	// max_recv_msg_size_mib / max_request_body_size).
	RequestReserveMiB uint64 `mapstructure:"request_reserve_mib"`
}

// maxLimitMiB keeps limit_mib << 20 within uint64 (and is far beyond any real memory).
const maxLimitMiB = 1 << 40

// Validate checks the limits.
func (cfg *Config) Validate() error {
	var errs []error
	switch {
	case cfg.LimitMiB == 0 && cfg.LimitPercentage == 0:
		errs = append(errs, errors.New("limit_mib or limit_percentage: one is required; limit_percentage: 70 refuses data at 70% "+
			"of GOMEMLIMIT, leaving the Go garbage collector room before the runtime reaches its memory limit"))
	case cfg.LimitMiB > 0 && cfg.LimitPercentage > 0:
		errs = append(errs, errors.New("limit_mib and limit_percentage: set one, not both"))
	case cfg.LimitMiB > maxLimitMiB:
		errs = append(errs, fmt.Errorf("limit_mib: %d is beyond any memory size", cfg.LimitMiB))
	case cfg.LimitPercentage > 100:
		errs = append(errs, fmt.Errorf("limit_percentage: %d is more than 100%% of GOMEMLIMIT", cfg.LimitPercentage))
	}
	if cfg.RequestReserveMiB == 0 {
		errs = append(errs, errors.New("request_reserve_mib: must be > 0 (the largest decoded request the receivers accept)"))
	} else if cfg.LimitMiB > 0 && cfg.RequestReserveMiB > cfg.LimitMiB {
		errs = append(errs, fmt.Errorf("request_reserve_mib: %d is larger than limit_mib %d, so no request could ever be admitted",
			cfg.RequestReserveMiB, cfg.LimitMiB))
	}
	return errors.Join(errs...)
}
