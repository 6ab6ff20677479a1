// The process-wide table of live streams, by index. Internal.
#pragma once

#include <vector>

#include "runtime/stream_state.h"

namespace rill::detail {

// Makes and registers a stream on `d` (already validated).
StreamRef create_stream(Device d);
// The live stream with this index, or null.
StreamRef find_stream(int index);
// True if `index` was ever handed out (a stream that existed and was reclaimed).
bool stream_existed(int index);
// The owning thread exited: unregister `s` once its accepted work is done.
void orphan_stream(const StreamRef& s);
std::vector<Stream> live_streams();

}  // namespace rill::detail
