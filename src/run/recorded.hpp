#pragma once

// What a run records lives in record/, a leaf folder that the workload, the
// probes and the run all use; the run's own code (and its readers: analysis,
// report) name those types as the run's.
#include "record/observations.hpp"
#include "record/recorder.hpp"

namespace pgleak::run {

using record::Event;
using record::Holder;
using record::PoolSample;
using record::Recorder;
using record::Sample;

using record::kConnectError;
using record::kConnectionLost;
using record::kFault;
using record::kPoolTimeout;
using record::kProcessCrash;
using record::kProcessExit;
using record::kProcessStart;
using record::kQueryError;
using record::kSamplerError;
using record::kServerLog;

}  // namespace pgleak::run
