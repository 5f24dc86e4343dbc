package registry

import "crypto"

// For the client tests of package registry_test.

// IssuePolicy is the policy of TestPolicyTable, as a config file says it
// (its htpasswd key names a file "htpasswd" beside it).
const IssuePolicy = issuePolicy

// PolicyGrant compiles the access section of the YAML config cfg into a
// token server's grant: the actions of a repository scope the policy
// allows user, and the catalog to admins. It lets the token tests expect
// what the policy tests expect.
func PolicyGrant(p AccessPolicy) (func(user, typ, name string, actions []string) []string, error) {
	c, err := compilePolicy(p)
	if err != nil {
		return nil, err
	}
	return func(user, typ, name string, actions []string) []string {
		var out []string
		for _, a := range actions {
			switch {
			case typ == "registry" && name == "catalog" && c.admins[user]:
				out = append(out, a)
			case typ == "repository" && c.allows(user, name, Action(a)):
				out = append(out, a)
			}
		}
		return out
	}, nil
}

// LibtrustKeyID is libtrustKeyID, for token servers that name their key.
func LibtrustKeyID(k crypto.PublicKey) string {
	id, err := libtrustKeyID(k)
	if err != nil {
		panic(err)
	}
	return id
}
