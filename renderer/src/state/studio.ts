// The one client for the whole window, chosen once at start (desktop bridge or HTTP).
import { connect } from '../transport/index.js';

export const studio = connect();
