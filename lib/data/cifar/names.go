package cifar

import "fmt"

// classes10 are CIFAR-10's class names, by label (batches.meta.txt).
var classes10 = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// classes100 are CIFAR-100's fine class names, by label
// (fine_label_names.txt).
var classes100 = []string{
	"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
	"bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
	"chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
	"dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
	"lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
	"mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
	"plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
	"rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
	"squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
	"train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
}

// coarse100 are CIFAR-100's superclass names, by coarse label
// (coarse_label_names.txt).
var coarse100 = []string{
	"aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
	"household_electrical_devices", "household_furniture", "insects", "large_carnivores", "large_man-made_outdoor_things",
	"large_natural_outdoor_scenes", "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
	"reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
}

// fineToCoarse is each CIFAR-100 fine label's superclass (five fine labels each).
var fineToCoarse = [100]uint8{
	4, 1, 14, 8, 0, 6, 7, 7, 18, 3,
	3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
	6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
	0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
	5, 19, 8, 8, 15, 13, 14, 17, 18, 10,
	16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
	10, 3, 2, 12, 12, 16, 12, 1, 9, 19,
	2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
	16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
	18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
}

// ClassName returns the name of label l in the data set with classes
// labels (10: CIFAR-10, 100: CIFAR-100's fine labels), or "class l" when
// there is none.
func ClassName(classes int, l uint8) string {
	var names []string
	switch classes {
	case 10:
		names = classes10
	case 100:
		names = classes100
	}
	if int(l) < len(names) {
		return names[l]
	}
	return fmt.Sprintf("class %d", l)
}

// CoarseName returns the name of CIFAR-100's superclass c (0–19), or
// "superclass c" when there is none.
func CoarseName(c uint8) string {
	if int(c) < len(coarse100) {
		return coarse100[c]
	}
	return fmt.Sprintf("superclass %d", c)
}

// CoarseOf returns the superclass of CIFAR-100's fine label fine, and
// whether fine is one (0–99).
func CoarseOf(fine uint8) (uint8, bool) {
	if int(fine) < len(fineToCoarse) {
		return fineToCoarse[fine], true
	}
	return 0, false
}
