// Browser helpers for the tinyshop cart page.

/**
 * Format an amount in cents as a price string like "12.50 EUR".
 */
export function formatPrice(cents, currency = "EUR") {
  const euros = Math.floor(cents / 100);
  const rest = String(cents % 100).padStart(2, "0");
  return `${euros}.${rest} ${currency}`;
}

/**
 * Fetch the cart of the current session from the API and return its lines.
 */
export async function loadCart(apiBase) {
  const response = await fetch(`${apiBase}/cart`, { credentials: "include" });
  if (!response.ok) {
    throw new Error(`cart request failed: ${response.status}`);
  }
  const body = await response.json();
  return body.lines;
}

/**
 * Render the cart lines into a table body element.
 */
export function renderCart(tbody, lines) {
  tbody.innerHTML = "";
  for (const line of lines) {
    const row = document.createElement("tr");
    row.innerHTML = `<td>${line.name}</td><td>${line.quantity}</td><td>${formatPrice(line.subtotal)}</td>`;
    tbody.appendChild(row);
  }
  return lines.length;
}
