import { jest } from "@jest/globals";

// Integration and e2e tests wait on real servers (an operator starting, a CA validating): their
// own waits have deadlines, so jest's 5 s default would only cut them short on a busy machine.
jest.setTimeout(180_000);
