package backends

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TPU support is discovery only: gorepro finds libtpu and hands it to go-xla
// by absolute path, but it has never run on a TPU.
//
// libtpu.so is itself a PJRT plugin (it exports GetPjrtApi): go-xla's
// installer only renames it to pjrt_c_api_tpu_plugin.so so that its own
// search finds it by name. An absolute path is opened as it is, whatever the
// file is called, so no copy or link is needed.
//
// libtpu must not be loaded on a machine without a TPU: its initialisation
// then asks the GCE metadata server for the TPU's topology, 30 tries per key,
// and it was still waiting after 5 minutes here (libtpu 0.0.51, 2026-11-28).
// So xla:tpu resolves only where a TPU chip is seen on the PCI bus, or where
// $TPU_ACCELERATOR_TYPE (libtpu's own variable, which spares it the metadata
// lookup) says the machine has one.

// envTPUAcceleratorType is libtpu's variable naming the TPU type (e.g. "v5litepod-8").
const envTPUAcceleratorType = "TPU_ACCELERATOR_TYPE"

// googlePCIVendor is Google's PCI vendor id; tpuPCIDevices are the device ids
// of TPU chips under it, as JAX's hardware_utils lists them (other Google
// devices, such as the gVNIC network card, share the vendor id).
const googlePCIVendor = "0x1ae0"

var tpuPCIDevices = map[string]string{
	"0x0027": "v2/v3",
	"0x0056": "plc",
	"0x005e": "v4",
	"0x0062": "v5p",
	"0x0063": "v5e",
	"0x006f": "v6e",
	"0x0076": "tpu7x",
}

// TPUChips counts the TPU chips on this machine's PCI bus and names their
// generation (e.g. 4, "v5e").
func (l *Locator) TPUChips() (count int, generation string) {
	if l.PCIDevicesDir == "" {
		return 0, ""
	}
	devices, _ := filepath.Glob(filepath.Join(l.PCIDevicesDir, "*"))
	for _, dev := range devices {
		if readTrimmed(filepath.Join(dev, "vendor")) != googlePCIVendor {
			continue
		}
		if gen, ok := tpuPCIDevices[readTrimmed(filepath.Join(dev, "device"))]; ok {
			count, generation = count+1, gen
		}
	}
	return count, generation
}

func readTrimmed(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(string(data)))
}

// isTPUPlugin reports whether a plugin file is libtpu (or go-xla's copy of it).
func isTPUPlugin(name, path string) bool {
	return name == XLATPU || strings.Contains(strings.ToLower(filepath.Base(path)), "tpu")
}

// checkTPU refuses to hand libtpu to go-xla on a machine without a TPU (see above).
func (l *Locator) checkTPU(p Plugin) error {
	if n, _ := l.TPUChips(); n > 0 {
		return nil
	}
	if v, ok := l.lookupEnv(envTPUAcceleratorType); ok && v != "" {
		return nil
	}
	return fmt.Errorf("found %s (%s), but this machine has no TPU chip (none of vendor %s with a TPU device id in %s); "+
		"not loaded, as libtpu without a TPU waits minutes on the GCE metadata server (set $%s if gorepro misses your TPU)",
		p.Path, p.Source, googlePCIVendor, l.PCIDevicesDir, envTPUAcceleratorType)
}
