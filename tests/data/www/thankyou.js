/* The thank-you page's order, taken from its URL, reported with
 * AffTok.conversion(); the outcome goes into the page for the tests. */
(function () {
	var q = new URLSearchParams(location.search);
	var order = {transaction_id: q.get('tx'), amount: q.get('amount'), currency: q.get('currency'),
		     event: q.get('event')};
	function show(status) {
		var el = document.getElementById('status');
		el.textContent = status;
		el.setAttribute('data-status', status);
		document.getElementById('pending').textContent = String(AffTok.pending());
	}
	AffTok.conversion(order).then(show);
})();
