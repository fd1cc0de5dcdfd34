// LeasedMembership lives in src/store (the executor's lock in src/etcd builds on it too, and
// a lower layer must not import src/cluster); this path stays for the node and router imports.
export {LeasedMembership, type LeasedMembershipOptions, type MembershipBackoff} from '../store/leasedMembership.js'
