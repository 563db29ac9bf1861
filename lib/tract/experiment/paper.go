package experiment

// The paper's settings, quoted from the NeurIPS 2024 text (§4.1, §4.4, §4.6)
// and, where the text is silent, from the official code
// (github.com/Felix-Petersen/tract, examples/train_cifar.py at 8c04529) —
// each marked with its source.

// PaperProtocolQuote is how the paper tunes the compared arms (§4.1).
const PaperProtocolQuote = "\"The optimal learning rate is determined for each number of epochs using regular training\" … " +
	"\"to remove any bias towards the proposed method (and even give an advantage to the baseline), we utilize the optimal learning rate of the baseline also for the proposed method\" (§4.1)"

// SettingsHeader is the header of Settings.
func SettingsHeader() []string { return []string{"setting", "paper (source)", "this notebook"} }

// Settings are the paper's settings beside the notebook's, one row each,
// every deviation labelled.
func Settings() [][]string {
	return [][]string{
		{"λ", "0.1 recommended; {0.05, 0.1, 0.2} in Fig. 3–4 (§4.4)", "0.1 (claims); 0.05 and 0.2 for the CNN (findings)"},
		{"inputs", "\"standardized to mean 0 and standard deviation 1\" (§4.4)", "per channel with the training split's mean and std"},
		{"epoch budgets", "100, 200, 400, 800, a separate run each (§4.1)", "full: the same; quick: 2, 4, 8, 16 on digits (deviation: CPU minutes)"},
		{"learning rate", "tuned for the baseline per budget, reused for TrAct (§4.1)", "the same, chosen on a validation split (the paper does not name its split); plus each arm at its own best (robustness)"},
		{"SGD grid (ResNet-18)", "{0.1, 0.09, 0.08, 0.07}, 0.08 chosen at every budget (§4.1)", "full: the same grid; digits: {0.02 … 0.5} (deviation: another model and data)"},
		{"ViT grid", "10^-3 … 10^-4 by 10^-0.1 (§4.1)", "full: the same grid; digits: {1e-3, 3e-3, 1e-2, 3e-2}"},
		{"optimiser", "SGD momentum 0.9 or Adam, cosine schedule (§4.1); no weight decay, cosine stepped per iteration (train_cifar.py)", "the same"},
		{"batch", "128 (§4.1), drop_last (train_cifar.py)", "full: 128; digits: 64 (1 150 training images)"},
		{"augmentation", "RandomCrop(32, padding=4) + RandomHorizontalFlip (train_cifar.py)", "full: the same; digits: none"},
		{"ResNet-18 stem", "3×3 stride-1 first convolution, max-pool kept (resnet_cifar10.py)", "the same (lib/resnet)"},
		{"ViT", "7 layers, 12 heads, width 384, label smoothing 0.1 (§4.1); 4×4 patches, MLP 384 (ViT-CIFAR defaults)", "full: the same; digits: 2 layers, 4 heads, width 32, 2×2 patches"},
		{"seeds", "5 (Fig. 3, 4)", "5 evaluation seeds (each with its own split) + 2 tuning seeds"},
		{"speedup", "\"TrAct with 200 epochs performs comparable to the baseline with 400 epochs\" (§4.1): budgets compared by eye", "E/e*, e* interpolated in log-budget where TrAct's accuracy reaches the baseline's at E"},
	}
}
