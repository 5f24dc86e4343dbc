package container

import (
	"crypto/rand"
	"math/big"
)

// Docker-style generated names: adjective_surname, drawn from lists of our
// own.
var (
	adjectives = []string{
		"admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "brave",
		"busy", "charming", "clever", "cool", "dazzling", "determined", "eager", "ecstatic",
		"elastic", "epic", "focused", "friendly", "gallant", "gifted", "goofy", "happy",
		"hopeful", "infallible", "jolly", "keen", "kind", "laughing", "lucid", "modest",
		"musing", "nervous", "nifty", "nostalgic", "optimistic", "peaceful", "pensive", "quirky",
		"relaxed", "serene", "sharp", "silly", "sleepy", "stoic", "tender", "trusting",
		"upbeat", "vibrant", "vigilant", "wizardly", "wonderful", "youthful", "zealous", "zen",
	}
	surnames = []string{
		"albattani", "archimedes", "babbage", "bardeen", "bell", "bohr", "boyd", "cannon",
		"curie", "darwin", "dijkstra", "einstein", "euclid", "euler", "faraday", "fermat",
		"feynman", "franklin", "galileo", "gauss", "goldberg", "hamilton", "hawking", "hopper",
		"hypatia", "johnson", "kepler", "knuth", "lamport", "lovelace", "mayer", "mcclintock",
		"meitner", "morse", "newton", "noether", "pascal", "pasteur", "perlman", "pike",
		"ritchie", "sammet", "shannon", "thompson", "tesla", "torvalds", "turing", "wiles",
		"wing", "wozniak", "wright", "yalow", "yonath",
	}
)

func pick(list []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	if err != nil {
		return list[0]
	}
	return list[n.Int64()]
}

// randomName returns a name like "focused_turing".
func randomName() string { return pick(adjectives) + "_" + pick(surnames) }
