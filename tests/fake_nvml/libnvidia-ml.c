/*
 * A fake libnvidia-ml.so.1 for llamacol's tests on machines without a GPU.
 *
 * It exports the NVML C functions the nvml receiver reaches through nvml-wrapper, with
 * nvml.h's signatures, struct layouts, enum values and return codes, so the real
 * backend (dlopen, symbol lookup, the wrapper's conversions) runs unchanged. Built by
 * tests/e2e_nvml.rs with `cc -shared -fPIC` and found through LD_LIBRARY_PATH.
 *
 * Two GPUs, readings in NVML's units (%, bytes, mW, mJ, C, MHz, KB/s, ns):
 *   0  NVIDIA H100 80GB HBM3, MIG on with 2 instances (3g.40gb); fans, encoder and
 *      decoder utilization NOT_SUPPORTED; one compute process (pid 4242, llama-server)
 *      with a utilization sample every call; capped at 650 of 700 W; HBM at 78 C; 3 rows
 *      remapped (page retirement NOT_SUPPORTED, as on every HBM GPU since A100); 18
 *      NVLinks, link 3 down with 5 replays and 2 flit CRC errors, link L having sent
 *      (L+1) GiB and received twice that; MIG instances are GPU instances 1 and 2.
 *   1  NVIDIA L4, no MIG (NOT_SUPPORTED); fans, total energy and PCIe replay counter
 *      NOT_SUPPORTED; no processes; GDDR, so no memory temperature or row remapping
 *      (NOT_SUPPORTED) but page retirement (1 double-bit page, retirement pending); no
 *      NVLink (NOT_SUPPORTED); one graphics process (pid 5151, 1 GiB); per-process
 *      utilization NO_PERMISSION (as NVML answers a user without the rights).
 * A MIG instance answers memory info, UUID and name; everything else NOT_SUPPORTED,
 * as real NVML does for MIG device handles.
 * Every call before nvmlInit_v2 (or after nvmlShutdown) returns NVML_ERROR_UNINITIALIZED.
 *
 * Scripted per test, from the environment read at nvmlInit_v2 (times after it):
 *   FAKE_NVML_XIDS=1:3000:79,0:1500:13   critical XID events (GPU index : ms : XID),
 *                                        delivered once each by nvmlEventSetWait_v2 to a
 *                                        set the GPU is registered in; the wait times out
 *                                        with NVML_ERROR_TIMEOUT otherwise.
 *   FAKE_NVML_LOST=1:5000                from then on every call on that GPU's handle
 *                                        (its readings, its events) answers
 *                                        NVML_ERROR_GPU_IS_LOST; finding it by UUID still
 *                                        works, as the handle stays valid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_GPU_IS_LOST 15

/* nvmlValueType_t */
#define NVML_VALUE_TYPE_UNSIGNED_INT 1
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
/* nvmlFieldValue_t fieldId values (nvml.h) */
#define NVML_FI_DEV_RETIRED_SBE 29
#define NVML_FI_DEV_RETIRED_DBE 30
#define NVML_FI_DEV_RETIRED_PENDING 31
#define NVML_FI_DEV_MEMORY_TEMP 82
#define NVML_FI_DEV_NVLINK_LINK_COUNT 91
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX 138
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX 139
#define NVML_FI_DEV_REMAPPED_COR 142
#define NVML_FI_DEV_REMAPPED_UNC 143
#define NVML_FI_DEV_REMAPPED_PENDING 144
#define NVML_FI_DEV_REMAPPED_FAILURE 145
/* nvmlPerfPolicyType_t: POWER .. RELIABILITY */
#define NVML_PERF_POLICY_COUNT 6
/* nvmlNvLinkErrorCounter_t: DL_REPLAY, DL_RECOVERY, DL_CRC_FLIT, DL_CRC_DATA */
#define NVML_NVLINK_ERROR_COUNT 4
#define NVML_NVLINK_MAX_LINKS 18

/* nvmlTemperatureSensors_t, nvmlClockType_t, nvmlPcieUtilCounter_t,
 * nvmlMemoryErrorType_t, nvmlEccCounterType_t */
#define NVML_TEMPERATURE_GPU 0
#define NVML_CLOCK_GRAPHICS 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_PCIE_UTIL_TX_BYTES 0
#define NVML_PCIE_UTIL_RX_BYTES 1
#define NVML_MEMORY_ERROR_TYPE_CORRECTED 0
#define NVML_MEMORY_ERROR_TYPE_UNCORRECTED 1
#define NVML_VOLATILE_ECC 0
#define NVML_AGGREGATE_ECC 1

typedef struct nvmlPciInfo_st {
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct nvmlUtilization_st {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct nvmlMemory_v2_st {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;

typedef struct nvmlViolationTime_st {
    unsigned long long referenceTime;
    unsigned long long violationTime;
} nvmlViolationTime_t;

typedef union nvmlValue_st {
    double dVal;
    int siVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    signed long long sllVal;
    unsigned short usVal;
} nvmlValue_t;

typedef struct nvmlFieldValue_st {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;
    long long latencyUsec;
    int valueType;
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;

typedef struct nvmlProcessUtilizationSample_st {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil;
    unsigned int memUtil;
    unsigned int encUtil;
    unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

typedef struct nvmlProcessInfo_st {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

/* A reading this device does not support. */
#define NS 0xFFFFFFFFu
#define NS64 0xFFFFFFFFFFFFFFFFull

struct fake_device {
    const char *uuid, *name, *bus_id;
    unsigned int bus, pci_device_id;
    int mig_parent; /* -1: a physical GPU */
    unsigned int max_mig; /* NS: MIG not supported */
    unsigned int util_gpu, util_memory, util_encoder, util_decoder;
    unsigned long long mem_total, mem_reserved, mem_used;
    unsigned int power_mw;
    unsigned long long energy_mj;
    unsigned int temperature_c, num_fans;
    unsigned int clock_graphics, clock_sm, clock_mem;
    unsigned int pcie_tx_kbs, pcie_rx_kbs, pcie_replay;
    unsigned long long throttle_reasons;
    int pstate;
    unsigned long long ecc_corrected, ecc_uncorrected;
    unsigned int processes;
};

typedef struct fake_device *nvmlDevice_t;

static struct fake_device devices[] = {
    {"GPU-8c7a3b2e-1f4d-4a6b-9e0c-2d5f7a8b9c01", "NVIDIA H100 80GB HBM3", "00000000:17:00.0",
     0x17, 0x233010DE, -1, 7,
     87, 45, NS, NS,
     85520809984ull, 536870912ull, 61203283968ull,
     412345, 123456789012ull,
     71, NS,
     1980, 1980, 2619,
     123456, 654321, 3,
     0x4ull, 0,
     12, 0,
     1},
    {"GPU-3f9e2d1c-7b6a-4c5d-8e9f-0a1b2c3d4e5f", "NVIDIA L4", "00000000:CA:00.0",
     0xCA, 0x27B810DE, -1, NS,
     12, 3, 5, 7,
     24152899584ull, 268435456ull, 2147483648ull,
     35210, NS64,
     44, NS,
     2040, 2040, 6251,
     2048, 4096, NS,
     0x1ull, 8,
     0, 0,
     0},
    /* MIG instances of GPU 0 */
    {"MIG-5e1c9a7b-3d2f-4e6a-8b0c-1d2e3f4a5b6c", "NVIDIA H100 80GB HBM3 MIG 3g.40gb", "",
     0, 0, 0, NS,
     NS, NS, NS, NS,
     42949672960ull, 0, 1073741824ull,
     NS, NS64, NS, NS, NS, NS, NS, NS, NS, NS, NS64, -1, NS64, NS64, 0},
    {"MIG-9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", "NVIDIA H100 80GB HBM3 MIG 3g.40gb", "",
     0, 0, 0, NS,
     NS, NS, NS, NS,
     42949672960ull, 0, 3221225472ull,
     NS, NS64, NS, NS, NS, NS, NS, NS, NS, NS, NS64, -1, NS64, NS64, 0},
};
#define PHYSICAL 2
#define ALL 4

static int initialized;

#define CHECK_INIT() do { if (!initialized) return NVML_ERROR_UNINITIALIZED; } while (0)
static int is_lost(const struct fake_device *d);
#define CHECK_HANDLE(d) do { CHECK_INIT(); if ((d) < devices || (d) >= devices + ALL) return NVML_ERROR_INVALID_ARGUMENT; } while (0)
#define CHECK_DEVICE(d) do { CHECK_HANDLE(d); if (is_lost(d)) return NVML_ERROR_GPU_IS_LOST; } while (0)
#define ANSWER(out, value, missing) do { if ((value) == (missing)) return NVML_ERROR_NOT_SUPPORTED; *(out) = (value); return NVML_SUCCESS; } while (0)

static nvmlReturn_t copy_string(char *out, unsigned int length, const char *value) {
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(value) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, value);
    return NVML_SUCCESS;
}

static void read_script(void);

nvmlReturn_t nvmlInit_v2(void) { initialized = 1; read_script(); return NVML_SUCCESS; }
nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }
nvmlReturn_t nvmlShutdown(void) { CHECK_INIT(); initialized = 0; return NVML_SUCCESS; }

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    CHECK_INIT();
    return copy_string(version, length, "550.54.15");
}

nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length) {
    CHECK_INIT();
    if (pid != 4242) return NVML_ERROR_NOT_FOUND;
    return copy_string(name, length, "llama-server");
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    CHECK_INIT();
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = PHYSICAL;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    CHECK_INIT();
    if (!device || index >= PHYSICAL) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
    CHECK_INIT();
    if (!uuid || !device) return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < ALL; i++) {
        if (strcmp(devices[i].uuid, uuid) == 0) {
            *device = &devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    CHECK_HANDLE(d); /* identity stays known on a lost GPU */
    return copy_string(uuid, length, d->uuid);
}

/* The device node's minor number: /dev/nvidia<index> for a physical GPU here. */
nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned int *minor) {
    CHECK_DEVICE(d);
    if (!minor) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_parent >= 0) return NVML_ERROR_NOT_SUPPORTED;
    *minor = (unsigned int)(d - devices);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    CHECK_HANDLE(d); /* identity stays known on a lost GPU */
    return copy_string(name, length, d->name);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci) {
    CHECK_DEVICE(d);
    if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_parent >= 0 || d->bus_id[0] == '\0') return NVML_ERROR_NOT_SUPPORTED;
    memset(pci, 0, sizeof *pci);
    strncpy(pci->busIdLegacy, d->bus_id + 4, sizeof pci->busIdLegacy - 1);
    strncpy(pci->busId, d->bus_id, sizeof pci->busId - 1);
    pci->bus = d->bus;
    pci->pciDeviceId = d->pci_device_id;
    pci->pciSubSystemId = 0x16C110DE;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *count) {
    CHECK_DEVICE(d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(count, d->max_mig, NS);
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int index, nvmlDevice_t *mig) {
    CHECK_DEVICE(d);
    if (!mig) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->max_mig == NS) return NVML_ERROR_NOT_SUPPORTED;
    if (index >= d->max_mig) return NVML_ERROR_INVALID_ARGUMENT;
    int seen = 0;
    for (int i = PHYSICAL; i < ALL; i++) {
        if (&devices[devices[i].mig_parent] == d && seen++ == (int)index) {
            *mig = &devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    CHECK_DEVICE(d);
    if (!u) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->util_gpu == NS) return NVML_ERROR_NOT_SUPPORTED;
    u->gpu = d->util_gpu;
    u->memory = d->util_memory;
    return NVML_SUCCESS;
}

static nvmlReturn_t codec(unsigned int value, unsigned int *utilization, unsigned int *period_us) {
    if (!utilization || !period_us) return NVML_ERROR_INVALID_ARGUMENT;
    if (value == NS) return NVML_ERROR_NOT_SUPPORTED;
    *utilization = value;
    *period_us = 167000;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *p) {
    CHECK_DEVICE(d);
    return codec(d->util_encoder, u, p);
}

nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *p) {
    CHECK_DEVICE(d);
    return codec(d->util_decoder, u, p);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
    CHECK_DEVICE(d);
    if (!m) return NVML_ERROR_INVALID_ARGUMENT;
    /* nvmlMemory_v2 = sizeof(nvmlMemory_v2_t) | 2 << 24 */
    if (m->version != (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24))) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = d->mem_total;
    m->reserved = d->mem_reserved;
    m->used = d->mem_used;
    m->free = d->mem_total - d->mem_reserved - d->mem_used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) {
    CHECK_DEVICE(d);
    if (!mw) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(mw, d->power_mw, NS);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj) {
    CHECK_DEVICE(d);
    if (!mj) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(mj, d->energy_mj, NS64);
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *c) {
    CHECK_DEVICE(d);
    if (!c || sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(c, d->temperature_c, NS);
}

nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t d, unsigned int *n) {
    CHECK_DEVICE(d);
    if (!n) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(n, d->num_fans, NS);
}

nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t d, unsigned int fan, unsigned int *speed) {
    CHECK_DEVICE(d);
    if (!speed) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->num_fans == NS) return NVML_ERROR_NOT_SUPPORTED;
    if (fan >= d->num_fans) return NVML_ERROR_INVALID_ARGUMENT;
    *speed = 40;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned int *mhz) {
    CHECK_DEVICE(d);
    if (!mhz) return NVML_ERROR_INVALID_ARGUMENT;
    switch (type) {
    case NVML_CLOCK_GRAPHICS: ANSWER(mhz, d->clock_graphics, NS);
    case NVML_CLOCK_SM: ANSWER(mhz, d->clock_sm, NS);
    case NVML_CLOCK_MEM: ANSWER(mhz, d->clock_mem, NS);
    default: return NVML_ERROR_NOT_SUPPORTED;
    }
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter, unsigned int *kbs) {
    CHECK_DEVICE(d);
    if (!kbs) return NVML_ERROR_INVALID_ARGUMENT;
    switch (counter) {
    case NVML_PCIE_UTIL_TX_BYTES: ANSWER(kbs, d->pcie_tx_kbs, NS);
    case NVML_PCIE_UTIL_RX_BYTES: ANSWER(kbs, d->pcie_rx_kbs, NS);
    default: return NVML_ERROR_INVALID_ARGUMENT;
    }
}

nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t d, unsigned int *count) {
    CHECK_DEVICE(d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(count, d->pcie_replay, NS);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long *reasons) {
    CHECK_DEVICE(d);
    if (!reasons) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(reasons, d->throttle_reasons, NS64);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *reasons) {
    return nvmlDeviceGetCurrentClocksThrottleReasons(d, reasons);
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, int *pstate) {
    CHECK_DEVICE(d);
    if (!pstate) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(pstate, d->pstate, -1);
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int error_type, int counter_type, unsigned long long *count) {
    CHECK_DEVICE(d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    if (counter_type == NVML_VOLATILE_ECC) {
        /* Since the driver loaded: the corrected ones of this boot, no uncorrected. */
        unsigned long long since_load = d->ecc_corrected == NS64 ? NS64 : d->ecc_corrected / 4;
        switch (error_type) {
        case NVML_MEMORY_ERROR_TYPE_CORRECTED: ANSWER(count, since_load, NS64);
        case NVML_MEMORY_ERROR_TYPE_UNCORRECTED: ANSWER(count, d->ecc_uncorrected, NS64);
        default: return NVML_ERROR_INVALID_ARGUMENT;
        }
    }
    if (counter_type != NVML_AGGREGATE_ECC) return NVML_ERROR_INVALID_ARGUMENT;
    switch (error_type) {
    case NVML_MEMORY_ERROR_TYPE_CORRECTED: ANSWER(count, d->ecc_corrected, NS64);
    case NVML_MEMORY_ERROR_TYPE_UNCORRECTED: ANSWER(count, d->ecc_uncorrected, NS64);
    default: return NVML_ERROR_INVALID_ARGUMENT;
    }
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    CHECK_DEVICE(d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_parent >= 0) return NVML_ERROR_NOT_SUPPORTED;
    unsigned int have = d->processes;
    if (*count < have || (!infos && have > 0)) {
        *count = have;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    *count = have;
    for (unsigned int i = 0; i < have; i++) {
        infos[i].pid = 4242;
        infos[i].usedGpuMemory = 60129542144ull; /* 56 GiB */
        infos[i].gpuInstanceId = 0xFFFFFFFFu;     /* NVML_VALUE_NOT_AVAILABLE: no MIG */
        infos[i].computeInstanceId = 0xFFFFFFFFu;
    }
    return NVML_SUCCESS;
}

/* The health readings, per device (same order as `devices`); NS / NS64: NOT_SUPPORTED. */
struct fake_health {
    unsigned int power_limit_mw, power_limit_default_mw;
    unsigned int memory_temp_c;
    unsigned long long violation_ns[NVML_PERF_POLICY_COUNT];
    unsigned long long remapped_cor, remapped_unc, remapped_pending, remapped_failure;
    unsigned long long retired_sbe, retired_dbe, retired_pending;
    unsigned int nvlinks;            /* NS: no NVLink */
    unsigned int down_link;          /* the inactive link, or NS */
    unsigned long long link_errors[NVML_NVLINK_ERROR_COUNT]; /* on the down link */
    unsigned int graphics_pid;       /* 0: none */
};

static const struct fake_health health[ALL] = {
    {.power_limit_mw = 650000, .power_limit_default_mw = 700000, .memory_temp_c = 78,
     .violation_ns = {2500000000ull, 0, 0, 0, 12000000000ull, 0},
     .remapped_cor = 3, .remapped_unc = 0, .remapped_pending = 0, .remapped_failure = 0,
     .retired_sbe = NS64, .retired_dbe = NS64, .retired_pending = NS64,
     .nvlinks = NVML_NVLINK_MAX_LINKS, .down_link = 3, .link_errors = {5, 0, 2, 0},
     .graphics_pid = 0},
    {.power_limit_mw = 72000, .power_limit_default_mw = 72000, .memory_temp_c = NS,
     .violation_ns = {0, 0, 0, 0, 40000000000ull, NS64},
     .remapped_cor = NS64, .remapped_unc = NS64, .remapped_pending = NS64, .remapped_failure = NS64,
     .retired_sbe = 0, .retired_dbe = 1, .retired_pending = 1,
     .nvlinks = NS, .down_link = NS, .link_errors = {0, 0, 0, 0},
     .graphics_pid = 5151},
    /* MIG instances: none of these (NVML answers NOT_SUPPORTED for MIG handles). */
    {.power_limit_mw = NS, .power_limit_default_mw = NS, .memory_temp_c = NS,
     .violation_ns = {NS64, NS64, NS64, NS64, NS64, NS64},
     .remapped_cor = NS64, .remapped_unc = NS64, .remapped_pending = NS64, .remapped_failure = NS64,
     .retired_sbe = NS64, .retired_dbe = NS64, .retired_pending = NS64,
     .nvlinks = NS, .down_link = NS, .graphics_pid = 0},
    {.power_limit_mw = NS, .power_limit_default_mw = NS, .memory_temp_c = NS,
     .violation_ns = {NS64, NS64, NS64, NS64, NS64, NS64},
     .remapped_cor = NS64, .remapped_unc = NS64, .remapped_pending = NS64, .remapped_failure = NS64,
     .retired_sbe = NS64, .retired_dbe = NS64, .retired_pending = NS64,
     .nvlinks = NS, .down_link = NS, .graphics_pid = 0},
};

#define HEALTH(d) (&health[(d) - devices])

static unsigned long long now_us(void) {
    struct timeval tv;
    gettimeofday(&tv, 0);
    return (unsigned long long)tv.tv_sec * 1000000ull + (unsigned long long)tv.tv_usec;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *limit) {
    CHECK_DEVICE(d);
    if (!limit) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(limit, HEALTH(d)->power_limit_mw, NS);
}

nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned int *limit) {
    CHECK_DEVICE(d);
    if (!limit) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(limit, HEALTH(d)->power_limit_default_mw, NS);
}

nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t d, int policy, nvmlViolationTime_t *t) {
    CHECK_DEVICE(d);
    if (!t || policy < 0) return NVML_ERROR_INVALID_ARGUMENT;
    /* TOTAL_APP_CLOCKS (10) and TOTAL_BASE_CLOCKS (11) exist but are not faked. */
    if (policy >= NVML_PERF_POLICY_COUNT) return NVML_ERROR_NOT_SUPPORTED;
    unsigned long long ns = HEALTH(d)->violation_ns[policy];
    if (ns == NS64) return NVML_ERROR_NOT_SUPPORTED;
    t->referenceTime = now_us();
    t->violationTime = ns;
    return NVML_SUCCESS;
}

/* One field: its value and type, or NOT_SUPPORTED in the field's own nvmlReturn (the
 * call itself succeeds, as NVML's does, when any field is understood). */
static void field(nvmlFieldValue_t *v, unsigned long long value, unsigned long long missing, int type) {
    v->timestamp = (long long)now_us();
    v->latencyUsec = 0;
    if (value == missing) {
        v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        return;
    }
    v->nvmlReturn = NVML_SUCCESS;
    v->valueType = type;
    if (type == NVML_VALUE_TYPE_UNSIGNED_INT) v->value.uiVal = (unsigned int)value;
    else v->value.ullVal = value;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int count, nvmlFieldValue_t *values) {
    CHECK_DEVICE(d);
    if (!values || count <= 0) return NVML_ERROR_INVALID_ARGUMENT;
    const struct fake_health *h = HEALTH(d);
    for (int i = 0; i < count; i++) {
        nvmlFieldValue_t *v = &values[i];
        switch (v->fieldId) {
        case NVML_FI_DEV_MEMORY_TEMP: field(v, h->memory_temp_c, NS, NVML_VALUE_TYPE_UNSIGNED_INT); break;
        case NVML_FI_DEV_REMAPPED_COR: field(v, h->remapped_cor, NS64, NVML_VALUE_TYPE_UNSIGNED_INT); break;
        case NVML_FI_DEV_REMAPPED_UNC: field(v, h->remapped_unc, NS64, NVML_VALUE_TYPE_UNSIGNED_INT); break;
        case NVML_FI_DEV_REMAPPED_PENDING: field(v, h->remapped_pending, NS64, NVML_VALUE_TYPE_UNSIGNED_INT); break;
        case NVML_FI_DEV_REMAPPED_FAILURE: field(v, h->remapped_failure, NS64, NVML_VALUE_TYPE_UNSIGNED_INT); break;
        case NVML_FI_DEV_RETIRED_SBE: field(v, h->retired_sbe, NS64, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG); break;
        case NVML_FI_DEV_RETIRED_DBE: field(v, h->retired_dbe, NS64, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG); break;
        case NVML_FI_DEV_RETIRED_PENDING: field(v, h->retired_pending, NS64, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG); break;
        case NVML_FI_DEV_NVLINK_LINK_COUNT: field(v, h->nvlinks, NS, NVML_VALUE_TYPE_UNSIGNED_INT); break;
        /* Per link (scopeId): link L has sent (L+1) GiB and received 2(L+1) GiB, in KiB;
         * the link that is down has moved nothing. */
        case NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX:
        case NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX:
            if (h->nvlinks == NS) { field(v, NS64, NS64, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG); break; }
            if (v->scopeId >= h->nvlinks) { v->nvmlReturn = NVML_ERROR_INVALID_ARGUMENT; break; }
            field(v, v->scopeId == h->down_link ? 0 :
                  (v->fieldId == NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX ? 1ull : 2ull) * (v->scopeId + 1) * 1048576ull,
                  NS64, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG);
            break;
        default: v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED; break;
        }
    }
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t d, unsigned int link, int *active) {
    CHECK_DEVICE(d);
    if (!active) return NVML_ERROR_INVALID_ARGUMENT;
    const struct fake_health *h = HEALTH(d);
    if (h->nvlinks == NS) return NVML_ERROR_NOT_SUPPORTED;
    if (link >= h->nvlinks) return NVML_ERROR_INVALID_ARGUMENT;
    *active = link != h->down_link; /* NVML_FEATURE_ENABLED = 1 */
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNvLinkErrorCounter(nvmlDevice_t d, unsigned int link, int counter, unsigned long long *value) {
    CHECK_DEVICE(d);
    if (!value || counter < 0) return NVML_ERROR_INVALID_ARGUMENT;
    const struct fake_health *h = HEALTH(d);
    if (h->nvlinks == NS) return NVML_ERROR_NOT_SUPPORTED;
    if (link >= h->nvlinks) return NVML_ERROR_INVALID_ARGUMENT;
    /* DL_ECC_DATA (4) exists on some GPUs; not here. */
    if (counter >= NVML_NVLINK_ERROR_COUNT) return NVML_ERROR_NOT_SUPPORTED;
    *value = link == h->down_link ? h->link_errors[counter] : 0;
    return NVML_SUCCESS;
}

/* Samples newer than lastSeen: the llama-server process has one per call (it is always
 * busy); with no buffer, the count and INSUFFICIENT_SIZE; with none newer, NOT_FOUND. */
nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t d, nvmlProcessUtilizationSample_t *samples, unsigned int *count, unsigned long long last_seen) {
    CHECK_DEVICE(d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_parent >= 0) return NVML_ERROR_NOT_SUPPORTED;
    if (d == &devices[1]) return NVML_ERROR_NO_PERMISSION;
    unsigned long long now = now_us();
    unsigned int have = d->processes > 0 && now > last_seen ? 1 : 0;
    if (have == 0) return NVML_ERROR_NOT_FOUND;
    if (!samples || *count < have) {
        *count = have;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    *count = have;
    samples[0].pid = 4242;
    samples[0].timeStamp = now;
    samples[0].smUtil = 83;
    samples[0].memUtil = 40;
    samples[0].encUtil = 0;
    samples[0].decUtil = 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    CHECK_DEVICE(d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_parent >= 0) return NVML_ERROR_NOT_SUPPORTED;
    unsigned int pid = HEALTH(d)->graphics_pid;
    unsigned int have = pid ? 1 : 0;
    if (*count < have || (!infos && have > 0)) {
        *count = have;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    *count = have;
    if (have) {
        infos[0].pid = pid;
        infos[0].usedGpuMemory = 1073741824ull; /* 1 GiB */
        infos[0].gpuInstanceId = 0xFFFFFFFFu;
        infos[0].computeInstanceId = 0xFFFFFFFFu;
    }
    return NVML_SUCCESS;
}

/* ---- The script: XID events and lost GPUs (see the header). ---- */

#define MAX_XIDS 64
struct scripted_xid { int gpu; long ms; unsigned long long xid; };
static struct scripted_xid xids[MAX_XIDS];
static int xid_count;
static int lost_gpu = -1;
static long lost_ms;
static struct timespec started;

static long ms_since_init(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - started.tv_sec) * 1000 + (now.tv_nsec - started.tv_nsec) / 1000000;
}

static void read_script(void) {
    clock_gettime(CLOCK_MONOTONIC, &started);
    xid_count = 0;
    lost_gpu = -1;
    const char *x = getenv("FAKE_NVML_XIDS");
    while (x && *x && xid_count < MAX_XIDS) {
        int gpu; long ms; unsigned long long code; int used = 0;
        if (sscanf(x, "%d:%ld:%llu%n", &gpu, &ms, &code, &used) != 3) break;
        xids[xid_count++] = (struct scripted_xid){gpu, ms, code};
        x += used;
        if (*x == ',') x++;
    }
    const char *l = getenv("FAKE_NVML_LOST");
    if (l) sscanf(l, "%d:%ld", &lost_gpu, &lost_ms);
}

static int is_lost(const struct fake_device *d) {
    return lost_gpu >= 0 && d == &devices[lost_gpu] && ms_since_init() >= lost_ms;
}

/* nvmlEventType* bits */
#define NVML_EVENT_TYPE_XID_CRITICAL_ERROR 8ull
#define NVML_EVENT_TYPE_PSTATE 4ull
#define NVML_EVENT_TYPE_CLOCK 16ull

typedef struct fake_event_set {
    int registered[ALL];
    int delivered[MAX_XIDS];
} *nvmlEventSet_t;

typedef struct nvmlEventData_st {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
    CHECK_INIT();
    if (!set) return NVML_ERROR_INVALID_ARGUMENT;
    *set = calloc(1, sizeof **set);
    return *set ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
    CHECK_INIT();
    free(set);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d, unsigned long long *types) {
    CHECK_DEVICE(d);
    if (!types) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_parent >= 0) return NVML_ERROR_NOT_SUPPORTED;
    *types = NVML_EVENT_TYPE_XID_CRITICAL_ERROR | NVML_EVENT_TYPE_PSTATE | NVML_EVENT_TYPE_CLOCK;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types, nvmlEventSet_t set) {
    CHECK_DEVICE(d);
    if (!set) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig_parent >= 0) return NVML_ERROR_NOT_SUPPORTED;
    if (types & NVML_EVENT_TYPE_XID_CRITICAL_ERROR) set->registered[d - devices] = 1;
    return NVML_SUCCESS;
}

/* The next scripted XID that is due, for a GPU registered in `set`; -1 if none yet. */
static int due(nvmlEventSet_t set) {
    long now = ms_since_init();
    for (int i = 0; i < xid_count; i++) {
        if (!set->delivered[i] && xids[i].ms <= now && xids[i].gpu < PHYSICAL && set->registered[xids[i].gpu])
            return i;
    }
    return -1;
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeout_ms) {
    CHECK_INIT();
    if (!set || !data) return NVML_ERROR_INVALID_ARGUMENT;
    long until = ms_since_init() + (long)timeout_ms;
    for (;;) {
        int i = due(set);
        if (i >= 0) {
            set->delivered[i] = 1;
            memset(data, 0, sizeof *data);
            data->device = &devices[xids[i].gpu];
            data->eventType = NVML_EVENT_TYPE_XID_CRITICAL_ERROR;
            data->eventData = xids[i].xid;
            data->gpuInstanceId = 0xFFFFFFFFu;
            data->computeInstanceId = 0xFFFFFFFFu;
            return NVML_SUCCESS;
        }
        long now = ms_since_init();
        if (now >= until) return NVML_ERROR_TIMEOUT;
        /* Sleep until the next scripted XID or the timeout, as NVML blocks until an
         * event or the timeout: an idle wait costs one wake-up per timeout. */
        long wake = until;
        for (int j = 0; j < xid_count; j++) {
            if (!set->delivered[j] && xids[j].gpu < PHYSICAL && set->registered[xids[j].gpu] && xids[j].ms < wake)
                wake = xids[j].ms;
        }
        usleep((useconds_t)((wake > now ? wake - now : 1) * 1000));
    }
}

/* A MIG instance's GPU instance id (its position under the GPU, from 1) and compute
 * instance id (0: one per GPU instance); a physical GPU answers INVALID_ARGUMENT. */
nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t d, unsigned int *id) {
    CHECK_DEVICE(d);
    if (!id || d->mig_parent < 0) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int n = 0;
    for (int i = PHYSICAL; i < ALL && &devices[i] != d; i++)
        if (devices[i].mig_parent == d->mig_parent) n++;
    *id = n + 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t d, unsigned int *id) {
    CHECK_DEVICE(d);
    if (!id || d->mig_parent < 0) return NVML_ERROR_INVALID_ARGUMENT;
    *id = 0;
    return NVML_SUCCESS;
}
