/*
 * abi.c: the version and size exports, so the C# side can check its mirrors against this build.
 */
#include "forklift_native.h"

FL_EXPORT int32_t fl_abi_version(void) { return FL_ABI_VERSION; }
FL_EXPORT int32_t fl_sizeof_probe_request(void) { return (int32_t)sizeof(fl_probe_request); }
FL_EXPORT int32_t fl_sizeof_probe_result(void) { return (int32_t)sizeof(fl_probe_result); }
FL_EXPORT int32_t fl_sizeof_context(void) { return (int32_t)sizeof(fl_context); }
