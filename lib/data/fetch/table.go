package fetch

// The pinned table. Every URL, size and digest below is copied from where
// the reference loaders publish it; the Source of each file names the
// repository, file and commit it was read from. Nothing here was computed
// by downloading the data. A value that is not published is left out
// (Size 0), never guessed.

// Where the values were read.
const (
	// torchvision's MNIST.resources (md5 per file) and MNIST.mirrors (the
	// ossci-datasets S3 bucket is its working mirror of
	// yann.lecun.com/exdb/mnist/, whose files have the same md5).
	srcTorchvisionMNIST = "pytorch/vision torchvision/datasets/mnist.py (MNIST.resources md5, MNIST.mirrors) at commit 01977a187961243eaf66ead246fd92a5c6c7ccfc"
	// tensorflow-datasets' checksum file for MNIST: size and sha256 of the
	// same four files (on the cvdf-datasets mirror); only the sizes are
	// used here, with torchvision's md5.
	srcTFDSMNIST = "tensorflow/datasets tensorflow_datasets/url_checksums/mnist.txt (size) at commit 31f1255e57e519a6c004f0b097a2f5cfcf0dde7d"
	// tensorflow-datasets downloads the binary CIFAR archives (torchvision
	// the python pickles, which our loader does not read).
	srcTFDSCIFAR10  = "tensorflow/datasets tensorflow_datasets/url_checksums/cifar10.txt (URL, size, sha256) at commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5"
	srcTFDSCIFAR100 = "tensorflow/datasets tensorflow_datasets/url_checksums/cifar100.txt (URL, size, sha256) at commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5"
	// BEIR's README table "Available Datasets" (Down-load link and md5
	// columns); examples/dataset/md5.csv at the same commit agrees for
	// every data set listed here (it differs for fever and
	// webis-touche2020, which are left out). beir/util.py's
	// download_and_unzip unzips <name>.zip into <name>/.
	srcBEIR = "beir-cellar/beir README.md, table Available Datasets (md5 column) at commit ef83d29307061c65d04b035b4f4e7c18bd8374af"
)

const (
	mnistBase = "https://ossci-datasets.s3.amazonaws.com/mnist/"
	beirBase  = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/"
)

// table is the pinned data sets, in the order --list shows them.
var table = []Dataset{
	{
		Name:        "mnist",
		Description: "MNIST handwritten digits (idx files; lib/data/mnist.Load(dir, \"train\" or \"t10k\"))",
		Files: []File{
			// md5: torchvision; size: tensorflow-datasets (9 912 422, as yann.lecun.com lists it).
			{URL: mnistBase + "train-images-idx3-ubyte.gz", Size: 9912422, Digest: Digest{"md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873"}, Source: srcTorchvisionMNIST + "; " + srcTFDSMNIST},
			{URL: mnistBase + "train-labels-idx1-ubyte.gz", Size: 28881, Digest: Digest{"md5", "d53e105ee54ea40749a09fcbcd1e9432"}, Source: srcTorchvisionMNIST + "; " + srcTFDSMNIST},
			{URL: mnistBase + "t10k-images-idx3-ubyte.gz", Size: 1648877, Digest: Digest{"md5", "9fb629c4189551a2d022fa330f9573f3"}, Source: srcTorchvisionMNIST + "; " + srcTFDSMNIST},
			{URL: mnistBase + "t10k-labels-idx1-ubyte.gz", Size: 4542, Digest: Digest{"md5", "ec29112dd5afa0611ce80d1b7f02629c"}, Source: srcTorchvisionMNIST + "; " + srcTFDSMNIST},
		},
		Dir:  "mnist",
		Want: []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
	},
	{
		Name:        "cifar10",
		Description: "CIFAR-10, binary version (lib/data/cifar.Load(dir, 10))",
		Files: []File{
			// tensorflow-datasets: 170052171 bytes, sha256 c4a38c50….
			{URL: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", Size: 170052171,
				Digest: Digest{"sha256", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"}, Source: srcTFDSCIFAR10},
		},
		Root: "cifar-10-batches-bin",
		Dir:  "cifar-10-batches-bin",
		Want: []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"},
	},
	{
		Name:        "cifar100",
		Description: "CIFAR-100, binary version (lib/data/cifar.Load(dir, 100))",
		Files: []File{
			// tensorflow-datasets: 168513733 bytes, sha256 58a81ae1….
			{URL: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", Size: 168513733,
				Digest: Digest{"sha256", "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"}, Source: srcTFDSCIFAR100},
		},
		Root: "cifar-100-binary",
		Dir:  "cifar-100-binary",
		Want: []string{"train.bin", "test.bin"},
	},
	beirEntry("scifact", "5f7d1de60b170fc8027bb7898e2efca1", "SciFact (BEIR): 5K abstracts, 300 test queries"),
	beirEntry("nfcorpus", "a89dba18a62ef92f7d323ec890a0d38d", "NFCorpus (BEIR): 3.6K documents, 323 test queries"),
	beirEntry("arguana", "8ad3e3c2a5867cdced806d6503f29b99", "ArguAna (BEIR): 8.67K arguments, 1 406 test queries"),
	beirEntry("fiqa", "17918ed23cd04fb15047f73e6c3bd9d9", "FiQA-2018 (BEIR): 57K posts, 648 test queries"),
	beirEntry("scidocs", "38121350fc3a4d2f48850f6aff52e4a9", "SCIDOCS (BEIR): 25K papers, 1 000 test queries"),
	beirEntry("trec-covid", "ce62140cb23feb9becf6270d0d1fe6d1", "TREC-COVID (BEIR): 171K documents, 50 test queries"),
	{
		Name:        "nanobeir-scifact",
		Description: "NanoSciFact (zeta-alpha-ai/NanoBEIR on the Hugging Face hub)",
		Files:       []File{{URL: "https://huggingface.co/datasets/zeta-alpha-ai/NanoSciFact"}},
		Dir:         "nanobeir/NanoSciFact",
		Unavailable: "published only as Parquet files (corpus/, queries/, qrels/ train-00000-of-00001.parquet) on a branch that moves; " +
			"their sha256 (Git LFS object ids) are published only per revision by the Hub's API, which could not be read to pin one, " +
			"and lib/data/beir reads JSONL, so a Parquet decoder (none in go.mod) would be needed: use beir-scifact, or convert NanoBEIR to the BEIR layout by hand",
	},
}

// beirEntry is the entry of the BEIR data set name: name.zip from BEIR's
// server, md5 from its README, unzipped into beir/<name>, so that the
// directory beir/ is a NanoBEIR-style collection for beir.LoadCollection.
func beirEntry(name, md5, description string) Dataset {
	return Dataset{
		Name:        "beir-" + name,
		Description: description + " (lib/data/beir.Load(dir, \"test\"))",
		// md5 from BEIR's README table; size not published.
		Files: []File{{URL: beirBase + name + ".zip", Digest: Digest{"md5", md5}, Source: srcBEIR}},
		Root:  name,
		Dir:   "beir/" + name,
		Want:  []string{"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"},
	}
}
