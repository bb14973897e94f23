// Landing: nothing to load; the header already knows who is signed in.
export default function landing() {}
