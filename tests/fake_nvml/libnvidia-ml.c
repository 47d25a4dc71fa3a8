/*
 * A fake libnvidia-ml.so.1 for llamacol's tests on machines without a GPU.
 *
 * It exports the NVML C functions the nvml receiver reaches through nvml-wrapper, with
 * nvml.h's signatures, struct layouts, enum values and return codes, so the real
 * backend (dlopen, symbol lookup, the wrapper's conversions) runs unchanged. Built by
 * tests/e2e_nvml.rs with `cc -shared -fPIC` and found through LD_LIBRARY_PATH.
 *
 * Two GPUs, readings in NVML's units (%, bytes, mW, mJ, C, MHz, KB/s):
 *   0  NVIDIA H100 80GB HBM3, MIG on with 2 instances (3g.40gb); fans, encoder and
 *      decoder utilization NOT_SUPPORTED; one compute process (pid 4242, llama-server).
 *   1  NVIDIA L4, no MIG (NOT_SUPPORTED); fans, total energy and PCIe replay counter
 *      NOT_SUPPORTED; no processes.
 * A MIG instance answers memory info, UUID and name; everything else NOT_SUPPORTED,
 * as real NVML does for MIG device handles.
 * Every call before nvmlInit_v2 (or after nvmlShutdown) returns NVML_ERROR_UNINITIALIZED.
 */
#include <string.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7

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
#define CHECK_DEVICE(d) do { CHECK_INIT(); if ((d) < devices || (d) >= devices + ALL) return NVML_ERROR_INVALID_ARGUMENT; } while (0)
#define ANSWER(out, value, missing) do { if ((value) == (missing)) return NVML_ERROR_NOT_SUPPORTED; *(out) = (value); return NVML_SUCCESS; } while (0)

static nvmlReturn_t copy_string(char *out, unsigned int length, const char *value) {
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(value) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, value);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) { initialized = 1; return NVML_SUCCESS; }
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
    CHECK_DEVICE(d);
    return copy_string(uuid, length, d->uuid);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    CHECK_DEVICE(d);
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
    if (!count || counter_type != NVML_AGGREGATE_ECC) return NVML_ERROR_INVALID_ARGUMENT;
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
